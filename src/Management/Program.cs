namespace Switchyard.Management;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("switchyard: the host is being assembled in this commit series");
        return 2;
    }
}
