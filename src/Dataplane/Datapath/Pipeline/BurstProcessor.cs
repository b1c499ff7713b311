using System.Numerics;
using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Forwarding;
using Switchyard.Dataplane.Datapath.Parsing;
using Switchyard.Dataplane.Datapath.Steering;
using Switchyard.Dataplane.Datapath.Steering.Tokens;
using Switchyard.Dataplane.Datapath.Worker;

namespace Switchyard.Dataplane.Datapath.Pipeline;

/// <summary>
/// The packet path of one worker, composed from its stages (docs/design.md, "How a packet flows"):
/// <list type="number">
/// <item>first pass, <see cref="Classifier"/> (Parsing): parse, VIP, flow hash, MPTCP signalling, prefetches;
///   ARP/NDP answered at once by <see cref="Answers"/>;</item>
/// <item>between the passes, <see cref="JoinSteering.DecryptTokens"/>: the burst's encrypted join tokens in one batch,
///   and <see cref="QuicSteering.DecodeCids"/>: the QUIC-LB connection IDs of the burst in one batch;</item>
/// <item>second pass: <see cref="JoinSteering"/>, <see cref="QuicSteering"/> or <see cref="FlowSteering"/> (Steering) pick the backend,
///   <see cref="TokenTracker"/> learns tokens; answers and drops end here;</item>
/// <item>forwarding: <see cref="Forwarder"/> (Forwarding) rewrites or encapsulates, one loop per forwarding body
///   (mode x family, <see cref="ForwardBody"/>) over that body's frames.</item>
/// </list>
/// Reads the snapshot once per burst. No allocation, logging, locks or syscalls (asserted by a test and
/// by the benchmarks' MemoryDiagnoser). The one structure shared between workers is the learned-token
/// table (lock-free, see <see cref="LearnedTokenTable"/>).
/// </summary>
public sealed unsafe class BurstProcessor : IBurstHandler, IDisposable
{
    readonly SnapshotHolder _snapshots;
    readonly FlowTable _flows;
    readonly WorkerCounters _counters;
    readonly FrameState _frames = new();
    readonly FloodGuard _floodGuard = new();
    readonly Classifier _classifier;
    readonly JoinSteering _joins;
    readonly FlowSteering _steering;
    readonly QuicSteering _quic;
    readonly TokenTracker? _tokens;
    readonly Steering.Pins.PinSharing? _pins;
    readonly Answers _answers;
    readonly Forwarder _forwarder;

    /// <param name="learned">The learned-token table shared by every worker (null: learned-token mode places no joins).</param>
    /// <param name="tokenExport">This worker's queue of learned-token events for the cluster's exchange (null: no cluster).</param>
    /// <param name="sharedPins">Pins shared by the cluster's other appliances (null: no pin sharing, issue 12 item 4).</param>
    /// <param name="pinExport">This worker's queue of pins that differ from the current Maglev pick (null: none exported).</param>
    /// <param name="pinSweepBuckets">Flow-table buckets the pin-sharing sweep compares per burst.</param>
    public BurstProcessor(SnapshotHolder snapshots, FlowTable flows, WorkerCounters counters, LearnedTokenTable? learned = null,
        TokenExportQueue? tokenExport = null, Steering.Pins.SharedPinTable? sharedPins = null, Steering.Pins.PinExportQueue? pinExport = null,
        int pinSweepBuckets = 4)
    {
        _snapshots = snapshots;
        _flows = flows;
        _prefetchBuckets = (long)flows.Capacity * FlowTable.BytesPerEntry > L1DataBytes;
        _counters = counters;
        _classifier = new Classifier(_frames, counters, learnedTokens: learned is not null);
        _joins = new JoinSteering(_frames, flows, counters, learned);
        _pins = sharedPins is null ? null : new Steering.Pins.PinSharing(flows, counters, sharedPins, pinExport, pinSweepBuckets);
        _steering = new FlowSteering(_frames, flows, counters, _floodGuard, _pins);
        _quic = new QuicSteering(_frames, flows, counters);
        _tokens = learned is null ? null : new TokenTracker(_frames, learned, counters, flows.Capacity, tokenExport);
        _answers = new Answers(_frames, counters);
        _forwarder = new Forwarder(_frames, counters, _answers);
    }

    /// <summary>The worker's cycle budget (Run.StageStampsFile), or null: in the bursts the worker loop stamps
    /// (<see cref="StageBudget.Active"/>), the passes are stamped as <see cref="Stage.Parse"/> (first pass),
    /// <see cref="Stage.Token"/> (batch decryption: join tokens and QUIC-LB CIDs), <see cref="Stage.Steer"/> (steering pass) and <see cref="Stage.Rewrite"/> (forwarding bodies).</summary>
    public StageBudget? Budget { get; set; }

    /// <summary>Hand the appliance's own traffic that the dataplane does not answer (BGP, ICMP echo, ARP replies, ...)
    /// to the kernel: the worker loop puts such frames (OutPort <see cref="Burst.ExceptionPort"/>) on the exception
    /// path's ring (issue 12). Off: they are dropped as before (NotForVip, ArpNotForUs).</summary>
    public bool ExceptionPath
    {
        get => _classifier.ExceptionPath;
        init { _classifier.ExceptionPath = value; _answers.ExceptionPath = value; }
    }

    /// <summary>Dataplane.FloodGuardNewFlowsPerSecond: new flows per second this worker still pins (SYNs, first
    /// UDP packets); above it they are steered by Maglev unpinned (<see cref="FloodGuard"/>). 0 = off.</summary>
    public int FloodGuardNewFlowsPerSecond
    {
        get => _floodGuard.Limit;
        init => _floodGuard.Limit = value;
    }

    public FlowTable Flows => _flows;
    public WorkerCounters Counters => _counters;

    /// <summary>Forward each steered frame with the body compiled for its (forwarding mode x address family)
    /// (true, the default), or with the one plain body that branches per frame (false: the reference the
    /// specialised bodies are tested against, ForwardBodyEqualityTests; Dataplane.SpecialisedBodies).</summary>
    public bool SpecialisedBodies { get; init; } = true;

    /// <summary>The steering pass's current run of frames to one forwarding body (a burst's frames nearly all share one),
    /// kept in registers and added to the body's frames when the body changes and at the end of the pass.</summary>
    struct BodyRun
    {
        int _body;
        uint _frames;

        /// <summary>Frame <paramref name="i"/> goes to <paramref name="body"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(uint[] bodies, int body, int i)
        {
            if (body != _body)
            {
                bodies[_body] |= _frames;
                _body = body;
                _frames = 0;
            }
            _frames |= 1u << i;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Flush(uint[] bodies) => bodies[_body] |= _frames;
    }

    // The second pass's frames per forwarding body: bit i = frame i of the burst (Burst.Size <= 32).
    readonly uint[] _bodyFrames = new uint[(int)ForwardBody.Plain + 1];

    /// <summary>Burst counts per forwarding body run (for tests: which bodies a corpus exercised).</summary>
    public long BodyRuns(ForwardBody body) => _bodyRuns[(int)body];
    readonly long[] _bodyRuns = new long[(int)ForwardBody.Plain + 1];

    /// <summary>
    /// The burst in stages, each a loop over the burst in a method of its own (issue 14): classify (parse,
    /// VIP, hash; then the flow buckets of the burst prefetched together), the batch decryptions, steer (pick each frame's backend; answers and
    /// drops), then forward: one loop per forwarding body present in the burst, over that body's frames.
    /// </summary>
    public void Process(Burst burst, byte rxPort, uint now)
    {
        var snap = _snapshots.Current; // one acquire per burst; see SnapshotHolder
        int n = burst.Count;
        StageBudget? budget = Budget;
        bool stamp = budget is not null && budget.Active;
        ulong t0 = stamp ? StageBudget.Now() : 0;
        ClassifyPass(snap, burst, n, rxPort);
        ulong t1 = stamp ? StageBudget.Now() : 0;
        if (_frames.PendingDecrypts > 0) _joins.DecryptTokens(snap);
        if (_quic.Pending > 0) _quic.DecodeCids(snap);
        ulong t2 = stamp ? StageBudget.Now() : 0;
        SteerPass(snap, burst, n, rxPort, now);
        ulong t3 = stamp ? StageBudget.Now() : 0;
        ForwardPass(snap, burst, rxPort);
        // Sweep one bucket (one cache line) per burst: lookups expire lazily, but an entry never
        // looked at again for 2^31 ms would otherwise look live after the tick counter wraps.
        _flows.ExpireSome(now, 1);
        _tokens?.ExpireSome(snap, now);
        _pins?.Sweep(snap, now); // pins Maglev no longer reproduces, for the cluster's other appliances
        if (stamp)
        {
            ulong t4 = StageBudget.Now();
            budget!.Add(Stage.Parse, t1 - t0);
            budget.Add(Stage.Token, t2 - t1);
            budget.Add(Stage.Steer, t3 - t2);
            budget.Add(Stage.Rewrite, t4 - t3);
        }
    }

    /// <summary>First pass: parse, VIP, flow hash, MPTCP signalling, prefetches; neighbour answers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    void ClassifyPass(DataplaneSnapshot snap, Burst burst, int n, byte rxPort)
    {
        Classifier classifier = _classifier;
        bool quic = snap.QuicLb is not null;
        _frames.ClearDecrypts();
        // The common frames in one loop without calls, then the rest one by one (Classifier.ClassifyCommon).
        uint rest = classifier.ClassifyCommon(snap, burst, n, quic, out uint parsed, out uint mptcp, out uint udp);
        if (mptcp != 0) classifier.ClassifyMptcpFrames(snap, burst, mptcp);
        while (udp != 0)
        {
            // QUIC-LB VIPs: a malformed QUIC header is dropped (counted), a located DCID queued for decoding; the frame's
            // port is DropPort either way until forwarding.
            int i = BitOperations.TrailingZeroCount(udp);
            udp &= udp - 1;
            _quic.Classify(snap, burst.Data[i], i);
        }
        while (rest != 0)
        {
            int i = BitOperations.TrailingZeroCount(rest);
            rest &= rest - 1;
            var c = classifier.Classify(snap, burst.Data[i], burst.Length[i], burst.Segments[i], i, rxPort, (parsed >> i & 1) != 0);
            if (c == Classified.Steer)
            {
                if (!quic) { burst.OutPort[i] = Burst.DropPort; continue; }
                c = _quic.Classify(snap, burst.Data[i], i); // QUIC-LB VIPs
            }
            burst.OutPort[i] = c switch
            {
                Classified.Neighbor => _answers.Neighbor(snap, burst, i, rxPort),
                Classified.ToKernel => Burst.ExceptionPort,
                _ => Burst.DropPort,
            };
        }
        if (_prefetchBuckets) PrefetchBuckets(n);
    }

    // A table that fits a core's L1 data cache (32 KiB on the x86 cores of this decade: 2048 entries; the load harness's
    // new-flow runs use 1024 to force misses) gains nothing from the prefetch pass, which cost those runs 1-2 cycles per
    // frame (stage stamps, syn-new: handler 127-132 cycles with the pass or the old per-frame prefetch, 125-127 without).
    const int L1DataBytes = 32 * 1024;
    readonly bool _prefetchBuckets;

    /// <summary>
    /// The flow-table bucket of every frame the second pass steers, prefetched back to back once the first pass is done
    /// rather than one per frame inside it. A bucket of a large table (1M entries: 16 MiB) that misses the TLB holds its
    /// prefetch until the page walk ends (two-dimensional under a hypervisor); inside the parse loop each such walk held
    /// up that frame's work, here the walks overlap. Stage stamps, one core: replayed SYN flood over 16384 flows (1M-entry
    /// table) handler 140-144 -> 116-122 cycles, established 1024 flows 108-112 -> 102-106, SYN new (1024-entry table)
    /// unchanged (perf/results/2026-12-07-perf-4.md). Skipped for a table that fits the L1 data cache.
    /// </summary>
    void PrefetchBuckets(int n)
    {
        FrameSlot* slots = _frames.Slots;
        FlowTable flows = _flows;
        for (int i = 0; i < n; i++)
            if (slots[i].Kind != FrameKind.Done) flows.Prefetch(slots[i].Hash);
    }

    /// <summary>Second pass: each frame's backend (flow table, Maglev, join or QUIC-LB steering), token learning;
    /// answers (join rejected, gone flow reset) and drops are finished here; steered frames are sorted by body.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    void SteerPass(DataplaneSnapshot snap, Burst burst, int n, byte rxPort, uint now)
    {
        uint[] bodies = _bodyFrames;
        bool specialised = SpecialisedBodies;
        FrameSlot* slots = _frames.Slots;
        byte* outPort = burst.OutPort;
        // Per-frame tallies in registers, stored once per burst: the steering's counts (SteerTally), and the frames of the
        // body of the last steered frame (a burst's frames nearly all share one body). Stored per frame, each was a store
        // and a reload carried from frame to frame through memory.
        var tally = new SteerTally();
        var run = new BodyRun();
        // The burst's leading frames that are flow-table hits on a usable pin, in a loop with no call in it; the rest from
        // the first other frame on, in order, as before (so a frame sees the table exactly as the frames before it left it).
        int first = SteerHits(snap, n, now, specialised, ref tally.Hits, ref run);
        for (int i = first; i < n; i++)
        {
            ref FrameSlot slot = ref slots[i];
            var kind = slot.Kind;
            if (kind == FrameKind.Done) continue;
            uint idle = 0;
            int id = kind switch
            {
                FrameKind.Join => _joins.Steer(snap, i, now, ref tally),
                FrameKind.Quic => _quic.Steer(snap, i, now),
                _ => _steering.Steer(snap, i, now, out idle, ref tally),
            };
            if (id >= 0)
            {
                if (_tokens is not null && kind != FrameKind.Join && slot.Action != TokenAction.None)
                    _tokens.Track(snap, i, id, now, idle);
                slot.Backend = id;
                run.Add(bodies, (int)(specialised ? slot.Body : ForwardBody.Plain), i);
            }
            else outPort[i] = id switch
            {
                Steered.RejectJoin => _answers.RejectJoin(snap, burst, i, rxPort),
                Steered.ResetGoneFlow => _answers.ResetGoneFlow(snap, burst, i, rxPort),
                _ => Burst.DropPort, // counted by the stage
            };
        }
        run.Flush(bodies);
        tally.Flush(_counters);
    }

    /// <summary>
    /// The steering pass's leading run of plain flow-table hits: from frame 0 on, every frame the first pass finished is
    /// skipped, and every frame to steer by the flow table (not a join, not QUIC-LB, no token to track) whose lookup finds a
    /// live pin on a usable backend (one that takes new flows, for a SYN) gets that backend, as
    /// <see cref="FlowSteering.Steer"/> would give it. Stops at the first other frame and returns its index: the pass goes
    /// on from there one frame at a time. A lookup that stopped the run is done again there, to the same effect (a hit's
    /// refresh writes the same expiry; a miss has already freed the key's expired slot). In a loop with no call in it, so
    /// that the JIT keeps its state in registers (issue 14; the per-frame loop with the steering's calls spilled).
    /// Counts hits into <paramref name="hits"/> and extends the body run as the pass does.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    int SteerHits(DataplaneSnapshot snap, int n, uint now, bool specialised, ref long hits, ref BodyRun runRef)
    {
        FrameSlot* slots = _frames.Slots;
        FlowTable flows = _flows;
        var backends = snap.Backends;
        uint[] bodies = _bodyFrames;
        bool tokens = _tokens is not null;
        BodyRun run = runRef; // a local copy: its two fields stay in registers
        long hit = 0;
        int i = 0;
        for (; i < n; i++)
        {
            ref FrameSlot slot = ref slots[i];
            var kind = slot.Kind;
            if (kind == FrameKind.Done) continue;
            if (kind > FrameKind.SteerPin || (tokens && slot.Action != TokenAction.None)) break;
            if (flows.Lookup(slot.Hash, now, slot.PinIdleTicks, out uint pinned) != FlowLookup.Hit || pinned >= (uint)backends.Length
                || !backends[pinned].Usable || (slot.SynOpens && !backends[pinned].TakesNewFlows)) break;
            hit++;
            slot.Backend = (int)pinned;
            run.Add(bodies, (int)(specialised ? slot.Body : ForwardBody.Plain), i);
        }
        hits += hit;
        runRef = run;
        return i;
    }

    /// <summary>Last pass: one loop per forwarding body the burst needs (usually one), each compiled for its
    /// mode and family.</summary>
    void ForwardPass(DataplaneSnapshot snap, Burst burst, byte rxPort)
    {
        uint[] f = _bodyFrames;
        if (f[(int)ForwardBody.L2Dsr] != 0) Run<L2DsrBody>(snap, burst, ForwardBody.L2Dsr, rxPort);
        if (f[(int)ForwardBody.Ipip4] != 0) Run<Ipip4Body>(snap, burst, ForwardBody.Ipip4, rxPort);
        if (f[(int)ForwardBody.Ipip6] != 0) Run<Ipip6Body>(snap, burst, ForwardBody.Ipip6, rxPort);
        if (f[(int)ForwardBody.Gue4] != 0) Run<Gue4Body>(snap, burst, ForwardBody.Gue4, rxPort);
        if (f[(int)ForwardBody.Gue6] != 0) Run<Gue6Body>(snap, burst, ForwardBody.Gue6, rxPort);
        if (f[(int)ForwardBody.Gre4] != 0) Run<Gre4Body>(snap, burst, ForwardBody.Gre4, rxPort);
        if (f[(int)ForwardBody.Gre6] != 0) Run<Gre6Body>(snap, burst, ForwardBody.Gre6, rxPort);
        if (f[(int)ForwardBody.Plain] != 0) Run<PlainBody>(snap, burst, ForwardBody.Plain, rxPort);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void Run<TBody>(DataplaneSnapshot snap, Burst burst, ForwardBody body, byte rxPort) where TBody : struct, IForwardBody
    {
        _forwarder.Run<TBody>(snap, burst, _bodyFrames[(int)body], rxPort);
        _bodyFrames[(int)body] = 0;
        _bodyRuns[(int)body]++;
    }

    public void Dispose()
    {
        _flows.Dispose();
        _tokens?.Dispose();
        _frames.Dispose();
    }
}
