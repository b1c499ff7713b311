using System.Security.Cryptography;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Minting;

/// <summary>
/// Mints routable MPTCP tokens (token format v1, docs/token-format.md) for one server: the reference
/// for servers whose stack can choose the token of a new connection. A token is
/// <c>key id || E_K(X)</c> with X = server id (k bits) || nonce, so the balancer learns the server with
/// three AES blocks and no per-connection state.
/// <para>
/// Uniqueness: X is taken from the server's range [s &lt;&lt; (30 - k), (s + 1) &lt;&lt; (30 - k)) and never
/// handed out twice while the first connection lives (whatever its key id), so live tokens are unique
/// on this server by construction and across servers because server ids are. Nonces come from a
/// counter that starts at a random point (as QUIC-LB recommends), skipping live ones; when all
/// 2^(30 - k) are live, <see cref="Mint"/> throws.
/// </para>
/// <para>
/// Rotation: <see cref="SetKey"/> a new key under an unused id, <see cref="SetCurrentKey"/> to it, and
/// <see cref="RemoveKey"/> the old id once its connections are gone. Tokens minted under the old id stay
/// valid and releasable until then. Thread-safe: one lock around everything (this runs once per
/// connection on the server, not per packet).
/// </para>
/// Uses the appliance's own <see cref="TokenCipher"/> and <see cref="TokenKeys"/>, not a copy.
/// </summary>
public sealed class TokenMinter
{
    readonly object _lock = new();
    readonly byte[]?[] _keyBytes = new byte[]?[TokenKeys.MaxKeyId + 1];
    readonly int[] _liveByKey = new int[TokenKeys.MaxKeyId + 1];
    // Live nonce (X minus the server id bits) -> key id it was minted under. Memory follows the number
    // of live connections, not the 2^(30-k) range (a bitmap would need 64 MiB at k = 1).
    readonly Dictionary<uint, byte> _live = new();
    TokenKeys _keys;
    int _currentKeyId;
    uint _next; // next nonce to try

    public int ServerIdBits { get; }
    public uint ServerId { get; }

    /// <summary>Nonces per server: 2^(30 - k).</summary>
    public uint NonceCount => 1u << (TokenCipher.PlaintextBits - ServerIdBits);

    /// <param name="keys">Key id (0..2) -> 16-byte AES-128 key; the same keys the balancer has.</param>
    /// <param name="currentKeyId">The id new tokens are minted under.</param>
    /// <param name="serverIdBits">k, 1..15, as configured on the balancer.</param>
    /// <param name="serverId">This server's id, below 2^k.</param>
    public TokenMinter(IReadOnlyDictionary<int, byte[]> keys, int currentKeyId, int serverIdBits, uint serverId)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (serverIdBits is < TokenKeys.MinServerIdBits or > TokenKeys.MaxServerIdBits)
            throw new ArgumentOutOfRangeException(nameof(serverIdBits), serverIdBits, $"server id bits must be {TokenKeys.MinServerIdBits}..{TokenKeys.MaxServerIdBits}");
        if (serverId >> serverIdBits != 0)
            throw new ArgumentOutOfRangeException(nameof(serverId), serverId, $"server id does not fit in {serverIdBits} bits");
        ServerIdBits = serverIdBits;
        ServerId = serverId;
        foreach (var (id, key) in keys)
        {
            if ((uint)id > TokenKeys.MaxKeyId) throw new ArgumentOutOfRangeException(nameof(keys), id, "key id must be 0, 1 or 2");
            if (key is null || key.Length != AesPrf.KeySize) throw new ArgumentException($"key {id} must be {AesPrf.KeySize} bytes", nameof(keys));
            _keyBytes[id] = key.ToArray();
        }
        _keys = BuildKeys();
        if (!_keys.HasKey(currentKeyId)) throw new ArgumentException($"current key id {currentKeyId} has no key", nameof(currentKeyId));
        _currentKeyId = currentKeyId;
        _next = (uint)RandomNumberGenerator.GetInt32((int)NonceCount);
    }

    public int CurrentKeyId { get { lock (_lock) return _currentKeyId; } }

    /// <summary>Tokens minted and not yet released.</summary>
    public int LiveCount { get { lock (_lock) return _live.Count; } }

    /// <summary>The keys as the balancer's cipher sees them (rebuilt when keys change).</summary>
    public TokenKeys Keys { get { lock (_lock) return _keys; } }

    /// <summary>
    /// A fresh token under the current key whose X is in this server's range and not held by a live
    /// connection. Throws <see cref="InvalidOperationException"/> when every nonce is live.
    /// </summary>
    public uint Mint()
    {
        lock (_lock)
        {
            uint count = NonceCount, mask = count - 1;
            int nonceBits = TokenCipher.PlaintextBits - ServerIdBits;
            for (uint tries = 0; tries < count; tries++)
            {
                uint nonce = _next;
                _next = (_next + 1) & mask;
                if (_live.ContainsKey(nonce)) continue;
                uint token = TokenCipher.Encrypt(ServerId << nonceBits | nonce, _currentKeyId, _keys);
                // Linux never uses token 0 (token.c rejects it); keep that property for stacks that
                // treat 0 as "no token". Costs one nonce in 2^30 tokens at most.
                if (token == 0) continue;
                _live.Add(nonce, (byte)_currentKeyId);
                _liveByKey[_currentKeyId]++;
                return token;
            }
            throw new InvalidOperationException(
                $"Token range exhausted: server {ServerId} (k = {ServerIdBits}) has all {count} nonces held by live connections. " +
                "Release tokens of closed connections, or configure fewer server id bits to give each server more nonces.");
        }
    }

    /// <summary>
    /// Returns a token's nonce to the pool when its connection ends. False (and nothing changes) when the
    /// token is not a live token of this server: unknown key id, another server's range, never minted,
    /// or already released.
    /// </summary>
    public bool Release(uint token)
    {
        lock (_lock)
        {
            int id = TokenCipher.KeyId(token);
            if (!TokenCipher.TryDecrypt(token, _keys, out uint x)) return false;
            int nonceBits = TokenCipher.PlaintextBits - ServerIdBits;
            if (x >> nonceBits != ServerId) return false;
            uint nonce = x & (NonceCount - 1);
            if (!_live.TryGetValue(nonce, out byte mintedUnder) || mintedUnder != id) return false;
            _live.Remove(nonce);
            _liveByKey[id]--;
            return true;
        }
    }

    /// <summary>Mints under <paramref name="keyId"/> from now on (it must have a key).</summary>
    public void SetCurrentKey(int keyId)
    {
        lock (_lock)
        {
            if (!_keys.HasKey(keyId)) throw new ArgumentException($"key id {keyId} has no key", nameof(keyId));
            _currentKeyId = keyId;
        }
    }

    /// <summary>Adds a key under an id that is not current and has no live tokens (a key under live
    /// tokens cannot change: their connections would become unroutable).</summary>
    public void SetKey(int keyId, ReadOnlySpan<byte> key)
    {
        if ((uint)keyId > TokenKeys.MaxKeyId) throw new ArgumentOutOfRangeException(nameof(keyId), keyId, "key id must be 0, 1 or 2");
        if (key.Length != AesPrf.KeySize) throw new ArgumentException($"key must be {AesPrf.KeySize} bytes", nameof(key));
        lock (_lock)
        {
            if (_keys.HasKey(keyId) && (keyId == _currentKeyId || _liveByKey[keyId] != 0))
                throw new InvalidOperationException($"key id {keyId} is in use ({(keyId == _currentKeyId ? "current" : $"{_liveByKey[keyId]} live tokens")}); rotate to an unused id");
            _keyBytes[keyId] = key.ToArray();
            _keys = BuildKeys();
        }
    }

    /// <summary>Drops a key id that is not current and has no live tokens.</summary>
    public void RemoveKey(int keyId)
    {
        lock (_lock)
        {
            if (!_keys.HasKey(keyId)) return;
            if (keyId == _currentKeyId) throw new InvalidOperationException($"key id {keyId} is the current key");
            if (_liveByKey[keyId] != 0) throw new InvalidOperationException($"key id {keyId} still has {_liveByKey[keyId]} live tokens");
            _keyBytes[keyId] = null;
            _keys = BuildKeys();
        }
    }

    TokenKeys BuildKeys()
    {
        var list = new List<(int, byte[])>();
        for (int id = 0; id <= TokenKeys.MaxKeyId; id++)
            if (_keyBytes[id] is { } k) list.Add((id, k));
        return new TokenKeys(ServerIdBits, [.. list]);
    }
}
