using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Switchyard.Dataplane.Datapath.Steering.Tokens;

/// <summary>
/// The shared secrets of the encrypted-token mode (token format v1, docs/token-format.md): up to three
/// AES-128 keys under key ids 0..2, and k, the number of server-id bits (1..15). Immutable; the control
/// plane builds one per configuration (this is where the key schedules are expanded and where
/// allocation happens) and publishes it to the workers with the rest of the snapshot.
/// <para>
/// Memory layout, chosen for the batched decryptor (<see cref="TokenCipher.DecryptServerIds"/>):
/// <see cref="Schedule"/> holds four slots of <see cref="SlotVectors"/> = 16 vectors (256 bytes) each,
/// one per key id 0..3, so a lane finds its key with <c>token &gt;&gt; 30 &lt;&lt; 4</c> and no branch:
/// <code>
/// slot[0..10]  AES round keys 0..10 (FIPS-197 byte order)
/// slot[11..14] round key 0 XOR the constant part of the round input for pass 1..4
///              (bytes 14, 15 = 0x1E, pass): whitening and input constant in one XOR
/// slot[15]     zero (pads the slot to a power of two)
/// </code>
/// Slot 3 (key id 3, "not routable") and the slots of absent keys hold a zero schedule: lanes that
/// use them compute garbage that is masked off, which is cheaper than branching per lane.
/// <see cref="Words"/> is the same per key id in the software-AES layout (44 words per slot).
/// </para>
/// </summary>
public sealed partial class TokenKeys
{
    public const int MaxKeyId = 2;      // key ids 0..2 carry keys; 3 means "not a routable token"
    public const int NotRoutableKeyId = 3;
    public const int MinServerIdBits = 1, MaxServerIdBits = 15;
    internal const int SlotVectors = 16;  // Vector128 per key slot (256 bytes)
    internal const int WhiteningBase = 10; // slot[WhiteningBase + pass] = rk0 ^ P(pass), pass 1..4
    internal const int SlotWords = 44;     // software schedule words per key slot

    internal readonly Vector128<byte>[] Schedule = new Vector128<byte>[4 * SlotVectors];
    internal readonly uint[] Words = new uint[4 * SlotWords];
    readonly AesPrf?[] _prfs = new AesPrf?[3];

    /// <summary>Bit i set = key id i has a key (bit 3 never set).</summary>
    internal readonly int ValidMask;

    /// <summary>k: the server id is the top k bits of the 30-bit plaintext X.</summary>
    public int ServerIdBits { get; }

    /// <summary>Bits of X below the server id: 30 - k.</summary>
    public int NonceBits => 30 - ServerIdBits;

    /// <param name="serverIdBits">k, 1..15.</param>
    /// <param name="keys">(key id 0..2, 16-byte AES-128 key), each id at most once.</param>
    public TokenKeys(int serverIdBits, params ReadOnlySpan<(int Id, byte[] Key)> keys)
    {
        if (serverIdBits is < MinServerIdBits or > MaxServerIdBits)
            throw new ArgumentOutOfRangeException(nameof(serverIdBits), serverIdBits, $"server id bits must be {MinServerIdBits}..{MaxServerIdBits}");
        ServerIdBits = serverIdBits;
        foreach (var (id, key) in keys)
        {
            if (id is < 0 or > MaxKeyId) throw new ArgumentOutOfRangeException(nameof(keys), id, "key id must be 0, 1 or 2 (3 means not routable)");
            if ((ValidMask & (1 << id)) != 0) throw new ArgumentException($"key id {id} given twice", nameof(keys));
            ArgumentNullException.ThrowIfNull(key);
            var prf = new AesPrf(key);
            _prfs[id] = prf;
            ValidMask |= 1 << id;
            int s = id * SlotVectors;
            prf.RoundKeys.CopyTo(Schedule, s);
            for (int pass = 1; pass <= 4; pass++) Schedule[s + WhiteningBase + pass] = prf.RoundKeys[0] ^ PassConstant(pass);
            prf.Words.CopyTo(Words, id * SlotWords);
        }
        _pairStorage = BuildPairSchedule(Schedule, out PairSchedule); // VAES kernel layout (TokenKeys.Pairs.cs)
    }

    /// <summary>Whether key id <paramref name="keyId"/> (0..3) has a key.</summary>
    public bool HasKey(int keyId) => (uint)keyId <= MaxKeyId && (ValidMask & (1 << keyId)) != 0;

    /// <summary>The expanded key of <paramref name="keyId"/> (for tests and tools), or null.</summary>
    public AesPrf? Prf(int keyId) => (uint)keyId <= MaxKeyId ? _prfs[keyId] : null;

    /// <summary>Round key 0 of key slot <paramref name="keyId"/> (0..3), the base the cipher indexes from.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref Vector128<byte> Slot(uint keyId)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Schedule), (nint)(keyId & 3) * SlotVectors);

    /// <summary>The 44 software-schedule words of key slot <paramref name="keyId"/> (0..3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref uint SlotWordsRef(uint keyId)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Words), (nint)(keyId & 3) * SlotWords);

    /// <summary>The constant bytes of a round input: 0x1E (30, the plaintext length in bits) at byte 14,
    /// the pass number at byte 15; bytes 0..1 (the half) are filled per token.</summary>
    internal static Vector128<byte> PassConstant(int pass)
        => Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1E, (byte)pass);
}
