using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Dataplane.Datapath.Quic;

/// <summary>Which of draft-21's three CID algorithms a configuration uses (section "Server ID Encoding in Connection IDs").</summary>
public enum QuicLbAlgorithm : byte
{
    /// <summary>No key: the server id and nonce are in the clear after the first octet.</summary>
    Plaintext = 0,
    /// <summary>Key and server-id length + nonce length = 16: one AES-128-ECB block.</summary>
    SinglePass = 1,
    /// <summary>Key and any other length (5..19 octets): the four-pass Feistel with AES-128 as round function.</summary>
    FourPass = 2,
}

/// <summary>
/// One QUIC-LB configuration (draft-ietf-quic-load-balancers-21, "Load Balancer Configuration"): the
/// config id (the value of the top three "config rotation" bits of the CID's first octet, 0..6), the
/// server-id length, the nonce length and an optional AES-128 key. Immutable; validated on construction.
/// </summary>
public sealed class QuicLbConfig
{
    public const int MaxConfigId = 6;          // 0b111 marks an unroutable CID
    public const int UnroutableConfigId = 7;
    public const int MinServerIdLength = 1, MaxServerIdLength = 15;
    public const int MinNonceLength = 4, MaxNonceLength = 18;
    public const int MaxPlaintextLength = 19;  // server id + nonce; the CID is one octet more (max 20, RFC 9000)

    public int ConfigId { get; }
    public int ServerIdLength { get; }
    public int NonceLength { get; }
    public int PlaintextLength => ServerIdLength + NonceLength;
    /// <summary>Length of every CID minted under this config: first octet + server id + nonce.</summary>
    public int CidLength => 1 + PlaintextLength;
    /// <summary>Half length of the four-pass cipher: ceil(plaintext length / 2) (draft-21 "half_len").</summary>
    public int HalfLength => (PlaintextLength + 1) / 2;
    public QuicLbAlgorithm Algorithm { get; }
    /// <summary>The expanded key (encryption schedule), null for <see cref="QuicLbAlgorithm.Plaintext"/>.</summary>
    public AesPrf? Prf { get; }
    /// <summary>The 16-octet key as given, null for plaintext.</summary>
    public byte[]? Key { get; }
    /// <summary>AES decryption round keys for <c>aesdec</c> (single-pass algorithm); zeros without AES-NI, null for plaintext.</summary>
    internal Vector128<byte>[]? DecryptionKeys { get; }
    /// <summary>The servers self-encode the CID length (draft-21 section 2.3: the low five bits of the first octet are
    /// the CID length minus one): the balancer then routes by the CID only when those bits agree with the packet's DCID
    /// (long header: its length on the wire; short header: this configuration's <see cref="CidLength"/>). A CID that
    /// carries this config's rotation bits by chance (a client-chosen or foreign CID) is then far less likely to be
    /// taken for a server's CID. Off: the five bits are not looked at (they may be random).</summary>
    public bool SelfEncodedLength { get; }

    /// <param name="selfEncodedLength">See <see cref="SelfEncodedLength"/>.</param>
    public QuicLbConfig(int configId, int serverIdLength, int nonceLength, ReadOnlySpan<byte> key, bool selfEncodedLength)
        : this(configId, serverIdLength, nonceLength, key) => SelfEncodedLength = selfEncodedLength;

    public QuicLbConfig(int configId, int serverIdLength, int nonceLength, ReadOnlySpan<byte> key)
    {
        if ((uint)configId > MaxConfigId) throw new ArgumentOutOfRangeException(nameof(configId), configId, "config id must be 0..6 (7 marks unroutable CIDs)");
        if (serverIdLength is < MinServerIdLength or > MaxServerIdLength)
            throw new ArgumentOutOfRangeException(nameof(serverIdLength), serverIdLength, $"server id length must be {MinServerIdLength}..{MaxServerIdLength} octets");
        if (nonceLength is < MinNonceLength or > MaxNonceLength)
            throw new ArgumentOutOfRangeException(nameof(nonceLength), nonceLength, $"nonce length must be {MinNonceLength}..{MaxNonceLength} octets");
        if (serverIdLength + nonceLength > MaxPlaintextLength)
            throw new ArgumentException($"server id length + nonce length = {serverIdLength + nonceLength} exceeds {MaxPlaintextLength} octets (CIDs are at most 20 octets)");
        if (key.Length != 0 && key.Length != AesPrf.KeySize) throw new ArgumentException($"key must be {AesPrf.KeySize} octets or empty (plaintext)", nameof(key));
        ConfigId = configId;
        ServerIdLength = serverIdLength;
        NonceLength = nonceLength;
        if (key.IsEmpty) Algorithm = QuicLbAlgorithm.Plaintext;
        else
        {
            Key = key.ToArray();
            Prf = new AesPrf(key);
            DecryptionKeys = AesDecryption.DecryptionRoundKeys(Prf.RoundKeys);
            Algorithm = PlaintextLength == 16 ? QuicLbAlgorithm.SinglePass : QuicLbAlgorithm.FourPass;
        }
    }

    /// <summary>Convenience: plaintext config (no key).</summary>
    public QuicLbConfig(int configId, int serverIdLength, int nonceLength) : this(configId, serverIdLength, nonceLength, ReadOnlySpan<byte>.Empty) { }

    public override string ToString() => $"config {ConfigId}: server id {ServerIdLength} B, nonce {NonceLength} B, {Algorithm}{(SelfEncodedLength ? ", self-encoded length" : "")}";
}

/// <summary>
/// The QUIC-LB configurations live at one time, one per config id (the "config rotation" codepoint;
/// several codepoints live at once is how draft-21 rotates keys). Immutable; the control plane builds
/// one per snapshot (key expansion allocates here, never on the packet path).
/// <para>
/// Layout for the decoders (<see cref="QuicLbDecoder"/>): <see cref="Schedule"/> holds eight slots of
/// <see cref="SlotVectors"/> Vector128 each, indexed by the first octet's top three bits, so a lane finds
/// its configuration without a branch. Slots of absent configs and slot 7 are zero (their lanes are
/// masked off by <see cref="SlotInfo"/>).
/// <code>
/// [0..10]   AES encryption round keys 0..10 (FIPS-197 byte order)
/// [11..14]  round key 0 XOR the constant part of the four-pass round input for pass 1..4:
///           octet 14 = plaintext length, octet 15 = pass (draft-21 expand(); the half occupies
///           octets 0..half_len-1 &lt;= 9 so the two never overlap)
/// [15..25]  AES decryption round keys (Equivalent Inverse Cipher) for the single-pass algorithm
/// [26]      left-half mask: half_len octets of 0xFF, the last one 0xF0 when the plaintext length is odd
/// [27]      right-half mask: half_len octets of 0xFF, the first one 0x0F when odd
/// [28]      server-id mask: server_id_len octets of 0xFF
/// [29]      server-id length in octet 15 (tags the server-id key, see <see cref="QuicServerId"/>)
/// [30]      shuffle control that places the right half after the left half in the plaintext
/// [31]      zero (pads the slot to a power of two)
/// </code>
/// </para>
/// </summary>
public sealed class QuicLbConfigSet
{
    internal const int SlotVectors = 32;
    internal const int EncBase = 0, WhiteningBase = 10, DecBase = 15, LeftMask = 26, RightMask = 27, SidMask = 28, SidTag = 29, Merge = 30;

    readonly QuicLbConfig?[] _configs = new QuicLbConfig?[8];
    internal readonly Vector128<byte>[] Schedule = new Vector128<byte>[8 * SlotVectors];
    internal readonly SlotInfo[] Slots = new SlotInfo[8];

    /// <summary>Per-config scalars for the decoders.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SlotInfo
    {
        public byte Present;         // 1 = a config lives at this codepoint
        public byte Algorithm;       // QuicLbAlgorithm
        public byte CidLength;       // 1 + plaintext length
        public byte PlaintextLength;
        public byte HalfLength;
        public byte ServerIdLength;
        public byte RightOffset;     // where right_0 starts in the ciphertext/plaintext (length - half_len)
        public byte NeedsFourthPass; // the server id does not fit in left_0 (server id longer than the nonce)
        public byte SelfEncodedLength; // 1 = the first octet's low five bits must be the DCID length minus one
    }

    public QuicLbConfigSet(params IEnumerable<QuicLbConfig> configs)
    {
        ArgumentNullException.ThrowIfNull(configs);
        foreach (var c in configs)
        {
            ArgumentNullException.ThrowIfNull(c);
            if (_configs[c.ConfigId] is not null) throw new ArgumentException($"config id {c.ConfigId} given twice", nameof(configs));
            _configs[c.ConfigId] = c;
            Fill(c);
        }
    }

    /// <summary>The configuration at codepoint <paramref name="configId"/> (0..7), or null.</summary>
    public QuicLbConfig? this[int configId] => (uint)configId < 8 ? _configs[configId] : null;

    public IEnumerable<QuicLbConfig> Configs => _configs.Where(c => c is not null)!;

    /// <summary>Longest CID any live config produces (what a short header needs before its DCID can be read).</summary>
    public int MaxCidLength => Configs.Select(c => c.CidLength).DefaultIfEmpty(0).Max();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref Vector128<byte> Slot(uint configId)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Schedule), (nint)(configId & 7) * SlotVectors);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref SlotInfo Info(uint configId)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Slots), (nint)(configId & 7));

    void Fill(QuicLbConfig c)
    {
        int s = c.ConfigId * SlotVectors;
        int len = c.PlaintextLength, half = c.HalfLength;
        bool odd = (len & 1) != 0;
        Slots[c.ConfigId] = new SlotInfo
        {
            Present = 1,
            Algorithm = (byte)c.Algorithm,
            CidLength = (byte)c.CidLength,
            PlaintextLength = (byte)len,
            HalfLength = (byte)half,
            ServerIdLength = (byte)c.ServerIdLength,
            RightOffset = (byte)(len - half),
            NeedsFourthPass = c.ServerIdLength > c.NonceLength ? (byte)1 : (byte)0,
            SelfEncodedLength = c.SelfEncodedLength ? (byte)1 : (byte)0,
        };
        Span<byte> b = stackalloc byte[16];
        if (c.Prf is { } prf)
        {
            prf.RoundKeys.CopyTo(Schedule, s + EncBase);
            for (int pass = 1; pass <= 4; pass++)
            {
                b.Clear();
                b[14] = (byte)len;
                b[15] = (byte)pass;
                Schedule[s + WhiteningBase + pass] = prf.RoundKeys[0] ^ Vector128.Create((ReadOnlySpan<byte>)b);
            }
            c.DecryptionKeys!.CopyTo(Schedule, s + DecBase);
        }
        b.Clear(); b[..half].Fill(0xFF); if (odd) b[half - 1] = 0xF0;
        Schedule[s + LeftMask] = Vector128.Create((ReadOnlySpan<byte>)b);
        b.Clear(); b[..half].Fill(0xFF); if (odd) b[0] = 0x0F;
        Schedule[s + RightMask] = Vector128.Create((ReadOnlySpan<byte>)b);
        b.Clear(); b[..c.ServerIdLength].Fill(0xFF);
        Schedule[s + SidMask] = Vector128.Create((ReadOnlySpan<byte>)b);
        b.Clear(); b[15] = (byte)c.ServerIdLength;
        Schedule[s + SidTag] = Vector128.Create((ReadOnlySpan<byte>)b);
        // Merge: plaintext[i] = right[i - off] for i >= off where off = len - half (the odd case shares
        // octet half-1: left keeps its high nibble, right contributes its low nibble, so OR merges them).
        int off = len - half;
        for (int i = 0; i < 16; i++) b[i] = i >= off ? (byte)(i - off) : (byte)0x80;
        Schedule[s + Merge] = Vector128.Create((ReadOnlySpan<byte>)b);
    }
}
