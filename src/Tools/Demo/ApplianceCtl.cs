using System.Text.Json.Nodes;

namespace Switchyard.Demo;

/// <summary>One request on an appliance's control socket (the protocol of ControlCommands), without starting a
/// `switchyard ctl` process: the cluster scenario polls several appliances many times a second.</summary>
public static class ApplianceCtl
{
    public static JsonObject Send(string socketPath, params string[] args)
    {
        // The appliance logs "running:" a moment before its control socket listens: retry for a few seconds.
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using var c = new Switchyard.Management.Control.CtlClient.Connection(socketPath);
                return c.Send(args);
            }
            catch (System.Net.Sockets.SocketException) when (attempt < 100) { Thread.Sleep(50); }
        }
    }

    /// <summary>The "result" of a successful query; throws with the error otherwise.</summary>
    public static JsonObject Result(string socketPath, params string[] args)
    {
        var a = Send(socketPath, args);
        if (a["ok"]?.GetValue<bool>() != true) throw new InvalidOperationException($"ctl {string.Join(' ', args)}: {a["error"]}");
        return a["result"]?.AsObject() ?? a;
    }

    /// <summary>Received frames so far (summed over workers), from the counters JSON.</summary>
    public static long RxPackets(string socketPath)
    {
        var c = Result(socketPath, "counters");
        return c["totals"]?["rxPackets"]?.GetValue<long>() ?? 0;
    }
}
