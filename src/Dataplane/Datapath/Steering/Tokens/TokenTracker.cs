using Switchyard.Dataplane.Control;
using Switchyard.Dataplane.Datapath.Parsing;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>
/// Learned-token state of one worker's segments: after a segment of a learned-token VIP was steered to
/// its backend, learns the connection's token (from the MP_CAPABLE that echoes the server's key),
/// refreshes it while the connection lives and forgets it on MP_FASTCLOSE or the initial subflow's
/// FIN/RST. The idle timeout is the snapshot's (<see cref="DataplaneSnapshot.LearnedTokenIdleTicks"/>),
/// for learning, lookups and expiry alike.
/// </summary>
public sealed unsafe class TokenTracker : IDisposable
{
    readonly FrameState _frames;
    readonly LearnedTokenTable _learned;
    readonly WorkerCounters _counters;
    // Initial subflow (flow hash) -> its learned token, to refresh the token while the connection lives
    // and to forget it on FIN/RST. Joined subflows are not in it (their FIN must not forget the token).
    readonly FlowTable _flowTokens;
    // The cluster's token exchange (issue 12): learns, collisions and forgets go to the management side. Null: no cluster.
    readonly TokenExportQueue? _export;

    public TokenTracker(FrameState frames, LearnedTokenTable learned, WorkerCounters counters, int flowCapacity, TokenExportQueue? export = null)
    {
        _frames = frames; _learned = learned; _counters = counters; _export = export;
        _flowTokens = new FlowTable(Math.Max(1024, flowCapacity / 4));
    }

    /// <summary>After frame <paramref name="i"/> went to backend <paramref name="id"/>: its <see cref="TokenAction"/>.</summary>
    public void Track(DataplaneSnapshot snap, int i, int id, uint now, uint flowIdle)
    {
        ulong hash = _frames[i].Hash;
        uint tokenIdle = snap.LearnedTokenIdleTicks;
        switch (_frames[i].Action)
        {
            case TokenAction.Learn:
                // The client repeats MP_CAPABLE on the third ACK and its first data segment: hash once.
                if (_flowTokens.Lookup(hash, now, flowIdle, out _) == FlowLookup.Hit) goto case TokenAction.Track;
                uint token = TokenLearning.Token(_frames[i].Key);
                switch (_learned.Learn(token, (uint)id, now, tokenIdle))
                {
                    case LearnResult.Learned:
                        _counters.Add(GlobalCounter.TokensLearned);
                        _export?.TryEnqueue(TokenEventKind.Learned, token, (uint)id);
                        break;
                    case LearnResult.Collision:
                        _counters.Add(GlobalCounter.TokenCollisions);
                        _export?.TryEnqueue(TokenEventKind.Collided, token, (uint)id);
                        break;
                    case LearnResult.Full: _counters.Add(GlobalCounter.TokenTableFull); return;
                }
                _flowTokens.Insert(hash, token, now, flowIdle);
                break;
            case TokenAction.FastClose:
                uint closed = TokenLearning.Token(_frames[i].Key);
                if (_learned.Forget(closed, (uint)id)) Forgotten(closed, (uint)id);
                _flowTokens.Remove(hash);
                break;
            case TokenAction.Track:
                if (_flowTokens.Lookup(hash, now, flowIdle, out uint known) != FlowLookup.Hit) break;
                if ((_frames.Info[i].TcpFlags & (TcpFlag.Fin | TcpFlag.Rst)) != 0)
                {
                    // The initial subflow ends: so does the connection, as far as new joins go.
                    if (_learned.Forget(known, (uint)id)) Forgotten(known, (uint)id);
                    _flowTokens.Remove(hash);
                }
                else _learned.Learn(known, (uint)id, now, tokenIdle); // refresh while the connection lives
                break;
        }
    }

    void Forgotten(uint token, uint id)
    {
        _counters.Add(GlobalCounter.TokensForgotten);
        _export?.TryEnqueue(TokenEventKind.Forgotten, token, id);
    }

    /// <summary>Once per burst: one bucket of this worker's subflow map and one window of the shared table.</summary>
    public void ExpireSome(DataplaneSnapshot snap, uint now)
    {
        _flowTokens.ExpireSome(now, 1);
        _learned.ExpireSome(now, snap.LearnedTokenIdleTicks, 1);
    }

    public void Dispose() => _flowTokens.Dispose();
}
