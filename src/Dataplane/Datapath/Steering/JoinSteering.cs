using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Dataplane.Datapath.Steering;

/// <summary>
/// Places MP_JOIN SYNs: the join modes of the VIP, in their configured order (encrypted token, learned
/// token, announced port); never a random backend. The encrypted tokens of a burst are decrypted
/// together first (<see cref="DecryptTokens"/>: 8 AES blocks in flight, see TokenCipher).
/// </summary>
public sealed class JoinSteering(FrameState frames, FlowTable flows, WorkerCounters counters, LearnedTokenTable? learned)
{
    readonly uint[] _ids = new uint[Worker.Burst.Size];
    readonly byte[] _ok = new byte[Worker.Burst.Size];

    /// <summary>Decrypts the tokens of the burst's joins that the first pass queued (<see cref="FrameState.QueueDecrypt"/>)
    /// in one batch, and gives each frame whose token names a key its server id.</summary>
    public unsafe void DecryptTokens(DataplaneSnapshot snap)
    {
        int batch = frames.PendingDecrypts;
        frames.ClearDecrypts();
        if (batch == 0) return;
        TokenCipher.DecryptServerIds(new ReadOnlySpan<uint>(frames.DecryptTokens, batch), _ids.AsSpan(0, batch), _ok.AsSpan(0, batch), snap.TokenKeys!);
        byte* frameOf = frames.DecryptFrames;
        for (int j = 0; j < batch; j++)
            if (_ok[j] != 0) frames[frameOf[j]].ServerId = (int)_ids[j];
    }

    /// <summary>The backend of join frame <paramref name="i"/>, pinned on its own 5-tuple, or <see cref="Steered.RejectJoin"/>.
    /// Hits, inserts, evictions, joins and new flows are counted in <paramref name="tally"/> (the steering pass adds it to
    /// the counters). Inlined into the pass, so that the tally stays in registers there (called, the tally's address
    /// escaped and every count went through memory: join steering 45.2 cycles per frame called, 40.6-42.1 inlined).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public int Steer(DataplaneSnapshot snap, int i, uint now, ref SteerTally tally)
    {
        int vip = frames[i].Vip;
        ref readonly var v = ref snap.Vips[vip];
        var pool = snap.Pools[v.Pool];
        var backends = snap.Backends;
        ulong hash = frames[i].Hash;
        // A retransmitted join SYN follows the choice made for the first one.
        if (flows.Lookup(hash, now, pool.HandshakeIdleTicks, out uint pinned, out FlowProbe probe) == FlowLookup.Hit
            && pinned < (uint)backends.Length && backends[pinned].Usable)
        {
            tally.Hits++;
            return (int)pinned;
        }
        tally.Joins++;
        int id = -1;
        bool collided = false;
        for (uint modes = v.JoinModes; modes != 0 && id < 0; modes >>= 4)
        {
            switch ((JoinMode)(modes & 0xF))
            {
                case JoinMode.EncryptedToken:
                    int sid = frames[i].ServerId;
                    var map = pool.ServerIdToBackend;
                    if ((uint)sid < (uint)map.Length && map[sid] >= 0 && backends[map[sid]].Usable)
                    {
                        id = map[sid];
                        tally.JoinsByEncryptedToken++;
                    }
                    break;
                case JoinMode.LearnedToken:
                    if (learned is null) break;
                    var r = learned.Lookup(frames[i].JoinToken, now, snap.LearnedTokenIdleTicks, out uint owner);
                    if (r == TokenLookup.Found && owner < (uint)backends.Length && backends[owner].Usable)
                    {
                        id = (int)owner;
                        counters.Add(GlobalCounter.JoinsByLearnedToken);
                    }
                    else if (r == TokenLookup.Collided) collided = true;
                    break;
                case JoinMode.AnnouncedPort:
                    if (v.AnnouncedBackend >= 0 && backends[v.AnnouncedBackend].Usable)
                    {
                        id = v.AnnouncedBackend;
                        counters.Add(GlobalCounter.JoinsByAnnouncedPort);
                    }
                    break;
                // AnnouncedAddress: joins go to the servers' own addresses; one that reaches a VIP has
                // nowhere to go.
            }
        }
        if (id < 0)
        {
            counters.Add(GlobalCounter.JoinsUnplaceable);
            if (collided) counters.Add(GlobalCounter.JoinsWithCollidedToken);
            return Steered.RejectJoin;
        }
        // Pin the join's own 5-tuple: its SYN/ACK-ACK and data carry no token. For the handshake only: the subflow's
        // first non-SYN segment refreshes it to the TCP idle timeout, and a join flood's pins expire (and are evicted)
        // before established flows'.
        // Never at the cost of an entry that outlives it: in a bucket full of established flows the join goes unpinned
        // (counted; its later segments follow Maglev and the backend may reset it: the connection keeps its other subflows).
        // The lookup's compare of the bucket stands (the join modes above read other tables, never this one).
        var pin = flows.InsertAt(in probe, hash, (uint)id, now, pool.HandshakeIdleTicks, refuseLonger: true);
        if (pin == FlowInsert.Replaced) tally.Evictions++;
        if (pin == FlowInsert.Refused) counters.Add(GlobalCounter.HandshakePinsRefused);
        else tally.Inserts++;
        tally.NewFlow(counters, vip);
        counters.AddBackend(id, ServiceCounter.NewFlows);
        return id;
    }
}
