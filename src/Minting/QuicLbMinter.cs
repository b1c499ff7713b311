using System.Buffers.Binary;
using System.Security.Cryptography;
using Switchyard.Dataplane.Datapath.Quic;

namespace Switchyard.Minting;

/// <summary>
/// Mints QUIC-LB connection IDs (draft-ietf-quic-load-balancers-21) for one server: the reference for
/// QUIC servers behind Switchyard. A CID is <c>first octet || encode(server id || nonce)</c> under the
/// current configuration, with the appliance's own cipher (<see cref="QuicLbCipher"/>), so the two sides
/// cannot drift apart.
/// <para>
/// First octet: the config rotation bits (the config id) and, in the low five bits, the CID length
/// minus one (draft-21 "length self-description"; the balancer does not need it, it knows the length
/// from the configuration). Nonces: a counter that starts at a random point (draft-21 recommends
/// counters over random nonces, which collide after 2^(4n) CIDs); the low eight octets of the nonce
/// carry the counter, longer nonces get random leading octets. Uniqueness: one counter per minter, so
/// a server that runs one minter never issues the same CID twice while the counter has not gone round
/// (2^32 CIDs for the shortest, four-octet nonce); <see cref="Mint"/> throws when it would.
/// </para>
/// <para>
/// Rotation: the balancer decodes every configuration it has at once, one per codepoint. To roll a
/// key, add the new configuration to the balancer under an unused config id, then
/// <see cref="SetConfig"/> the servers' minters to it, and remove the old configuration from the balancer once the
/// connections that use its CIDs are gone. Thread-safe (one lock; this runs per new CID, not per packet).
/// </para>
/// </summary>
public sealed class QuicLbMinter
{
    readonly object _lock = new();
    readonly byte[] _serverId;
    QuicLbConfig _config;
    ulong _start, _next;
    bool _wrapped;

    /// <param name="config">The configuration new CIDs are minted under (the balancer has the same one).</param>
    /// <param name="serverId">This server's id, exactly <see cref="QuicLbConfig.ServerIdLength"/> octets.</param>
    public QuicLbMinter(QuicLbConfig config, ReadOnlySpan<byte> serverId)
    {
        ArgumentNullException.ThrowIfNull(config);
        _serverId = serverId.ToArray();
        _config = Check(config, _serverId);
        Restart();
    }

    public QuicLbConfig Config { get { lock (_lock) return _config; } }
    public ReadOnlySpan<byte> ServerId => _serverId;

    /// <summary>Mints under <paramref name="config"/> from now on (same server id length required).</summary>
    public void SetConfig(QuicLbConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (_lock)
        {
            bool sameNonce = config.NonceLength == _config.NonceLength;
            _config = Check(config, _serverId);
            // A new config id makes every CID new, so the counter may continue; a new nonce length restarts it.
            if (!sameNonce) Restart();
        }
    }

    /// <summary>A new CID (<see cref="QuicLbConfig.CidLength"/> octets).</summary>
    public byte[] Mint()
    {
        lock (_lock)
        {
            var cid = new byte[_config.CidLength];
            MintLocked(cid);
            return cid;
        }
    }

    /// <summary>Writes a new CID into <paramref name="cid"/> and returns its length.</summary>
    public int Mint(Span<byte> cid)
    {
        lock (_lock)
        {
            if (cid.Length < _config.CidLength) throw new ArgumentException($"CID buffer must hold {_config.CidLength} octets", nameof(cid));
            MintLocked(cid);
            return _config.CidLength;
        }
    }

    void MintLocked(Span<byte> cid)
    {
        int n = _config.NonceLength;
        if (_wrapped) throw new InvalidOperationException($"all {(n >= 8 ? "2^64" : $"2^{8 * n}")} nonces of this server have been used; rotate to a new configuration");
        Span<byte> nonce = stackalloc byte[QuicLbConfig.MaxNonceLength];
        nonce = nonce[..n];
        ulong counter = _next;
        ulong mask = n >= 8 ? ulong.MaxValue : (1UL << (8 * n)) - 1;
        _next = (_next + 1) & mask;
        if (_next == _start) _wrapped = true;
        Span<byte> be = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(be, counter);
        if (n >= 8)
        {
            RandomNumberGenerator.Fill(nonce[..(n - 8)]);
            be.CopyTo(nonce[(n - 8)..]);
        }
        else be[(8 - n)..].CopyTo(nonce);
        QuicLbCipher.Encode(_config, (byte)(_config.CidLength - 1), _serverId, nonce, cid);
    }

    void Restart()
    {
        int n = _config.NonceLength;
        ulong mask = n >= 8 ? ulong.MaxValue : (1UL << (8 * n)) - 1;
        Span<byte> r = stackalloc byte[8];
        RandomNumberGenerator.Fill(r);
        _start = _next = BinaryPrimitives.ReadUInt64BigEndian(r) & mask;
        _wrapped = false;
    }

    static QuicLbConfig Check(QuicLbConfig config, byte[] serverId)
    {
        if (serverId.Length != config.ServerIdLength)
            throw new ArgumentException($"server id is {serverId.Length} octets; config {config.ConfigId} has {config.ServerIdLength}-octet server ids");
        return config;
    }
}
