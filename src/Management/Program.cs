using Switchyard.Dataplane.Native;
using Switchyard.Management.Compile;
using Switchyard.Management.Host;
using Switchyard.Management.Options;

namespace Switchyard.Management;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "ctl") return Control.CtlClient.Run(args[1..], Console.Out, Console.Error);
        CommandLine cl;
        try { cl = CommandLine.Parse(args); }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"switchyard: {e.Message}");
            return 2;
        }
        if (cl.Help) { Console.Out.WriteLine(CommandLine.Usage); return 0; }
        if (cl.Version)
        {
            Console.Out.WriteLine($"switchyard {typeof(Program).Assembly.GetName().Version}");
            return 0;
        }
        try
        {
            var loaded = ApplianceConfiguration.Load(cl.ConfigPath, cl.ConfigArgs, Environment.GetEnvironmentVariables());
            var options = loaded.Options;
            if (cl.Check) return Check(options);
            if (options.Demo.Enabled)
            {
                Console.Error.WriteLine("switchyard: Demo.Enabled is true: this file describes the demo network, which switchyard-demo builds " +
                    "(./build.sh run); set Demo.Enabled=false (or --Demo:Enabled=false) to run the appliance on its ports");
                return 2;
            }
            int code = new ApplianceHost(options, cl.EalArgs, Console.Error, cl.ConfigPath, cl.ConfigArgs).Run();
            Console.Out.Flush();
            ExitWatchdog.Arm(code, TimeSpan.FromSeconds(10), Console.Error);
            return code;
        }
        catch (ConfigurationException e)
        {
            Console.Error.WriteLine($"switchyard: {e.Message}");
            return 2;
        }
        catch (DpdkException e)
        {
            Console.Error.WriteLine($"switchyard: DPDK error: {e.Message}");
            return 1;
        }
    }

    /// <summary>--check: validate and compile with placeholder MACs for ports whose MAC only DPDK knows.</summary>
    static int Check(ApplianceOptions o)
    {
        var macs = new Dictionary<string, ulong>();
        for (int i = 0; i < o.Ports.Length; i++)
            macs[o.Ports[i].Name] = o.Ports[i].Mac is { } m && ValueParsers.TryParseMac(m, out var mac) ? mac : 0x02_00_00_00_00_00UL | (uint)i;
        var snap = new SnapshotCompiler().Compile(o, macs);
        Console.Out.WriteLine($"configuration valid: {snap.Ports.Length} port(s), {WorkerLayout.WorkerCount(o)} worker(s), " +
            $"{snap.Vips.Length} VIP(s), {snap.Pools.Length} pool(s), {snap.Backends.Count(b => b.Name is not null)} backend(s)");
        Console.Out.WriteLine("EAL arguments: " + string.Join(' ', EalArguments.Build(o.Eal, EalArguments.FreeHugepagesExist()).Skip(1)));
        return 0;
    }
}
