namespace Switchyard.Management.Options;

/// <summary>One worker as the host starts it: pinned to <see cref="Core"/>, receiving from
/// <see cref="Queues"/>, and transmitting on queue <see cref="TxQueue"/> of every port (so no two
/// workers ever share a transmit queue and none needs a lock).</summary>
public sealed record WorkerPlan(int Index, int Core, IReadOnlyList<(string Port, int Queue)> Queues, int TxQueue);

/// <summary>
/// The effective worker layout and queue counts: explicit <c>Workers</c>, or <c>Cores</c> with every
/// port's receive queues dealt round-robin. Shared by the validator (ownership checks) and the host
/// (which starts the workers), so both see the same layout.
/// </summary>
public static class WorkerLayout
{
    public static int WorkerCount(ApplianceOptions o) => o.Workers.Length > 0 ? o.Workers.Length : o.Cores.Length;

    /// <summary>Receive queues of a port: as configured, else one per worker with <c>Cores</c>, else
    /// one more than the highest queue the explicit workers assign on it.</summary>
    public static int RxQueues(ApplianceOptions o, PortOptions port)
    {
        if (port.RxQueues is int n) return n;
        if (o.Workers.Length == 0) return o.Cores.Length;
        int max = -1;
        foreach (var w in o.Workers)
            foreach (var q in w.Queues ?? [])
                if (string.Equals(q?.Port, port.Name, StringComparison.Ordinal)) max = Math.Max(max, q!.Queue);
        return max + 1;
    }

    public static int TxQueues(ApplianceOptions o, PortOptions port) => port.TxQueues ?? WorkerCount(o);

    /// <summary>The workers. With <c>Cores</c>, queues are dealt port by port, queue by queue, so with the
    /// default RxQueues worker i owns queue i of every port. Call after validation for a meaningful result.</summary>
    public static IReadOnlyList<WorkerPlan> Resolve(ApplianceOptions o)
    {
        var plans = new List<WorkerPlan>();
        if (o.Workers.Length > 0)
        {
            for (int i = 0; i < o.Workers.Length; i++)
                plans.Add(new WorkerPlan(i, o.Workers[i].Core, [.. o.Workers[i].Queues.Select(q => (q.Port, q.Queue))], i));
            return plans;
        }
        int n = o.Cores.Length;
        if (n == 0) return plans;
        var queues = new List<(string, int)>[n];
        for (int i = 0; i < n; i++) queues[i] = [];
        int k = 0;
        foreach (var port in o.Ports)
            for (int q = 0; q < RxQueues(o, port); q++)
                queues[k++ % n].Add((port.Name, q));
        for (int i = 0; i < n; i++) plans.Add(new WorkerPlan(i, o.Cores[i], queues[i], i));
        return plans;
    }
}
