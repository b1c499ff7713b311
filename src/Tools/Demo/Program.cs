using Switchyard.Management.Host;
using Switchyard.Management.Options;

namespace Switchyard.Demo;

/// <summary>switchyard-demo [--config FILE] [--Section:Key=value ...] [-- EAL-ARGS]: the configuration's Demo section
/// picks the topology; the appliance runs on the same file with Demo.Enabled=false.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // switchyard-demo --cluster: the scale-out topology (issue 12; ClusterDemo.cs).
        if (args.Contains("--cluster")) return ClusterDemo.Run(args, Console.Error);
        CommandLine cl;
        try { cl = CommandLine.Parse(args); }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"switchyard-demo: {e.Message}");
            return 2;
        }
        if (cl.Help)
        {
            Console.Out.WriteLine("switchyard-demo [--config FILE] [--Section:Key=value ...] [-- EAL-ARGS...]\n" +
                "Builds the demo network described by the file's Demo section, runs switchyard inside it on the same file,\n" +
                "drives real TCP connections through it, prints the per-backend result and removes everything (root).");
            return 0;
        }
        try
        {
            var options = ApplianceConfiguration.Load(cl.ConfigPath, cl.ConfigArgs, Environment.GetEnvironmentVariables()).Options;
            return new DemoRunner(cl, options, Console.Error).Run();
        }
        catch (ConfigurationException e)
        {
            Console.Error.WriteLine($"switchyard-demo: {e.Message}");
            return 2;
        }
        catch (DemoException e)
        {
            Console.Error.WriteLine($"switchyard-demo: demo failed: {e.Message}");
            return 1;
        }
    }
}
