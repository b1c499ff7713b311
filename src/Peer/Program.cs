namespace Switchyard.Peer;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("switchyard-peer: not assembled yet");
        return 2;
    }
}
