using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>
/// Token format v1 (docs/token-format.md): token = key id (2 bits, clear) || E_K(X) (30 bits), with
/// X = server id (k bits) || nonce (30 - k bits) and E a 4-round balanced Feistel over 15-bit halves
/// whose round function is F(i, h) = top 15 bits of AES-128_K(h as 2 octets BE || 12 zero octets ||
/// 0x1E || i). Only AES encryption is used, in both directions.
/// <para>
/// The packet path calls <see cref="TryDecryptServerId"/> or, per burst, <see cref="DecryptServerIds"/>:
/// because k &lt;= 15 the server id lies entirely in the left half, so passes 4, 3 and 2 suffice (three
/// AES blocks per token). <see cref="Encrypt"/> and <see cref="TryDecrypt"/> (all four passes) serve the
/// minting library and the tests. No method here allocates.
/// </para>
/// Every public method picks AES-NI when <see cref="Aes.IsSupported"/>, else the software AES; the
/// generic <c>*&lt;TPrf&gt;</c> forms let tests and benchmarks run either explicitly.
/// </summary>
public static partial class TokenCipher
{
    public const int PlaintextBits = 30;
    const int HalfBits = 15;
    const uint HalfMask = 0x7FFF;   // 15 bits
    const uint X30Mask = 0x3FFF_FFFF;

    /// <summary>The key id carried in clear in the token's top two bits (3 = not routable).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int KeyId(uint token) => (int)(token >> 30);

    /// <summary>X = server id || nonce for k = <paramref name="serverIdBits"/>.</summary>
    public static uint ComposeX(uint serverId, uint nonce, int serverIdBits)
    {
        int nonceBits = PlaintextBits - serverIdBits;
        if ((uint)serverIdBits - 1 >= TokenKeys.MaxServerIdBits) throw new ArgumentOutOfRangeException(nameof(serverIdBits));
        if (serverId >> serverIdBits != 0) throw new ArgumentOutOfRangeException(nameof(serverId), serverId, $"server id does not fit in {serverIdBits} bits");
        if (nonce >> nonceBits != 0) throw new ArgumentOutOfRangeException(nameof(nonce), nonce, $"nonce does not fit in {nonceBits} bits");
        return serverId << nonceBits | nonce;
    }

    /// <summary>Encrypts the 30-bit <paramref name="x"/> under key <paramref name="keyId"/> (0..2): all four passes.</summary>
    public static uint Encrypt(uint x, int keyId, TokenKeys keys)
        => Aes.IsSupported ? Encrypt<HardwarePrf>(x, keyId, keys) : Encrypt<SoftwarePrf>(x, keyId, keys);

    /// <summary>Decrypts the whole of X (passes 4, 3, 2, 1). False for key id 3 or an absent key.</summary>
    public static bool TryDecrypt(uint token, TokenKeys keys, out uint x)
        => Aes.IsSupported ? TryDecrypt<HardwarePrf>(token, keys, out x) : TryDecrypt<SoftwarePrf>(token, keys, out x);

    /// <summary>The server id only (passes 4, 3, 2: three AES blocks). False (and 0) for key id 3 or an absent key.</summary>
    public static bool TryDecryptServerId(uint token, TokenKeys keys, out uint serverId)
        => Aes.IsSupported ? TryDecryptServerId<HardwarePrf>(token, keys, out serverId) : TryDecryptServerId<SoftwarePrf>(token, keys, out serverId);

    internal static uint Encrypt<TPrf>(uint x, int keyId, TokenKeys keys) where TPrf : struct, ITokenPrf
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (!keys.HasKey(keyId)) throw new ArgumentException($"no key with id {keyId}", nameof(keyId));
        if ((x & ~X30Mask) != 0) throw new ArgumentOutOfRangeException(nameof(x), x, "X is 30 bits");
        uint id = (uint)keyId;
        uint l = x >> HalfBits, r = x & HalfMask;
        r ^= TPrf.F(keys, id, 1, l);
        l ^= TPrf.F(keys, id, 2, r);
        r ^= TPrf.F(keys, id, 3, l);
        l ^= TPrf.F(keys, id, 4, r);
        return id << 30 | l << HalfBits | r;
    }

    internal static bool TryDecrypt<TPrf>(uint token, TokenKeys keys, out uint x) where TPrf : struct, ITokenPrf
    {
        uint id = token >> 30;
        if ((keys.ValidMask & (1 << (int)id)) == 0) { x = 0; return false; }
        uint l = (token >> HalfBits) & HalfMask, r = token & HalfMask;
        l ^= TPrf.F(keys, id, 4, r);
        r ^= TPrf.F(keys, id, 3, l);
        l ^= TPrf.F(keys, id, 2, r);
        r ^= TPrf.F(keys, id, 1, l);
        x = l << HalfBits | r;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryDecryptServerId<TPrf>(uint token, TokenKeys keys, out uint serverId) where TPrf : struct, ITokenPrf
    {
        uint id = token >> 30;
        if ((keys.ValidMask & (1 << (int)id)) == 0) { serverId = 0; return false; }
        uint l = (token >> HalfBits) & HalfMask, r = token & HalfMask;
        l ^= TPrf.F(keys, id, 4, r);
        r ^= TPrf.F(keys, id, 3, l);
        l ^= TPrf.F(keys, id, 2, r);
        serverId = l >> (HalfBits - keys.ServerIdBits); // k <= 15: the server id is the top k bits of L
        return true;
    }

    /// <summary>The Feistel round function F(pass, h) under key slot <c>keyId</c>, as a strategy so that
    /// each AES implementation gets its own specialised copy of the cipher (no per-call branch).</summary>
    internal interface ITokenPrf
    {
        static abstract uint F(TokenKeys keys, uint keyId, int pass, uint h);
    }

    /// <summary>AES-NI: one block through <see cref="AesPrf.EncryptHardware"/> with the pre-whitened
    /// round-0 key of the pass (so the 14 constant input bytes cost nothing).</summary>
    internal struct HardwarePrf : ITokenPrf
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint F(TokenKeys keys, uint keyId, int pass, uint h)
        {
            ref Vector128<byte> slot = ref keys.Slot(keyId);
            // bytes 0..1 = h big-endian, bytes 2..15 = 0: a movd of the byte-swapped half.
            Vector128<byte> b = Input(h) ^ Unsafe.Add(ref slot, TokenKeys.WhiteningBase + pass);
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 1));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 2));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 3));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 4));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 5));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 6));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 7));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 8));
            b = Aes.Encrypt(b, Unsafe.Add(ref slot, 9));
            b = Aes.EncryptLast(b, Unsafe.Add(ref slot, 10));
            return Output(b);
        }
    }

    /// <summary>Software AES: the round input as four big-endian column words is (h &lt;&lt; 16, 0, 0,
    /// 0x1E &lt;&lt; 8 | pass); the result's first two octets are the top 16 bits of column 0.</summary>
    internal struct SoftwarePrf : ITokenPrf
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static uint F(TokenKeys keys, uint keyId, int pass, uint h)
        {
            AesSoftware.Encrypt(ref keys.SlotWordsRef(keyId), h << 16, 0, 0, 0x1E00u | (uint)pass, out uint o0, out _, out _, out _);
            return o0 >> 17;
        }
    }

    /// <summary>The round input's variable part: h (15 bits) as two big-endian octets at bytes 0..1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> Input(uint h) => Vector128.CreateScalar((uint)BinaryPrimitives.ReverseEndianness((ushort)h)).AsByte();

    /// <summary>Top 15 bits of the first two output octets read big-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Output(Vector128<byte> b) => (uint)BinaryPrimitives.ReverseEndianness(b.AsUInt16().ToScalar()) >> 1;
}
