namespace Switchyard.Management.Host;

/// <summary>
/// The executable's own switches. Everything of the form --Section:Key=value (or
/// --Section:Key value) is a configuration override handed to Microsoft.Extensions.Configuration;
/// arguments after a lone "--" are extra EAL arguments.
/// </summary>
public sealed record CommandLine(string ConfigPath, bool Help, bool Version, bool Check, string[] ConfigArgs, string[] EalArgs)
{
    public const string Usage = """
        switchyard: MPTCP-aware Layer-4 load balancer on DPDK

        Usage:
          switchyard [--config FILE] [--check [FILE]] [--Section:Key=value ...] [-- EAL-ARGS...]
          switchyard ctl [--socket PATH] [--json] COMMAND ...   live operations (switchyard ctl --help)
          switchyard --help | --version

        Options:
          --config FILE          configuration file (default: ./appliance.json)
          --check [FILE]         validate and compile the configuration (FILE, else --config's), print
                                 the result, exit (0 valid, 2 invalid); starts no DPDK
          --Section:Key=value    override any configuration key, e.g. --Run:DurationSeconds=10,
                                 --Vips:0:Port=8080, --Eal:Vdevs:0=net_null0
          -- EAL-ARGS            everything after "--" is passed to rte_eal_init as is
          --help, --version

        Environment: SWITCHYARD_Section__Key=value overrides the file; the command line overrides both.
        Signals: SIGINT/SIGTERM stop cleanly (ports closed, final counters printed as JSON).
        Live operations: the appliance listens on Control.Socket (default /run/switchyard/switchyard.sock);
        `switchyard ctl list | backend add/del/set/drain/disable/enable | keys | reload | config | counters | watch`.
        With Control.WatchConfigFile (default true) a changed configuration file is reloaded (validated).
        Exit codes: 0 ok, 1 runtime failure (DPDK error text printed), 2 invalid configuration or usage.
        Observability: GET http://127.0.0.1:9469/metrics (Prometheus) and /counters (JSON), see Observability.*;
        dpdk-telemetry.py -f <Eal.FilePrefix> answers /switchyard/info, /switchyard/vip,<name>, ...;
        dpdk-dumpcap --file-prefix=<Eal.FilePrefix> -i <device> needs Observability.PacketCapture and hugepages.
        The configuration reference is docs/configuration.md; appliance.json shows every section.
        """;

    public static CommandLine Parse(string[] args)
    {
        string config = "appliance.json";
        bool help = false, version = false, check = false;
        var cfg = new List<string>();
        var eal = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") { eal.AddRange(args[(i + 1)..]); break; }
            switch (a)
            {
                case "-h" or "--help": help = true; break;
                case "--version": version = true; break;
                case "--check":
                    check = true;
                    // "--check FILE" is "--check --config FILE".
                    if (i + 1 < args.Length && !args[i + 1].StartsWith('-')) config = args[++i];
                    break;
                case "--config" or "-c":
                    if (i + 1 >= args.Length) throw new UsageException("--config needs a file name");
                    config = args[++i];
                    break;
                default:
                    if (a.StartsWith("--config=", StringComparison.Ordinal)) { config = a["--config=".Length..]; break; }
                    if (!a.StartsWith("--", StringComparison.Ordinal) || !a.Contains(':'))
                        throw new UsageException($"unknown argument '{a}' (see --help)");
                    cfg.Add(a);
                    // "--Section:Key value" form
                    if (!a.Contains('=') && i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                        cfg.Add(args[++i]);
                    break;
            }
        }
        return new CommandLine(config, help, version, check, cfg.ToArray(), eal.ToArray());
    }
}

public sealed class UsageException(string message) : Exception(message);
