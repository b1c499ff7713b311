using System.Globalization;

namespace Switchyard.Tests.Mptcp;

/// <summary>
/// Verbatim copies of shared/vectors/token-v1.txt and shared/vectors/rfc8684-key-token.txt (both
/// produced by implementations independent of this code: AES from the openssl command line, SHA-256
/// from Python), embedded so the tests need nothing outside the repository. Refresh by pasting the
/// files again; do not edit lines by hand.
/// </summary>
static class TokenVectors
{
    public const string TokenV1 = """
# token format v1 vectors: key_hex key_id server_id_bits server_id nonce x30_hex token_hex
# x30 = server_id << (30 - server_id_bits) | nonce ; token = key_id << 30 | E_key(x30)
000102030405060708090a0b0c0d0e0f 0 8 254 4129151 3fbf017f 34524e31
000102030405060708090a0b0c0d0e0f 1 8 185 2509676 2e664b6c 5f93c41e
000102030405060708090a0b0c0d0e0f 1 8 133 3955688 217c5be8 7dddb3fe
000102030405060708090a0b0c0d0e0f 1 10 689 288287 2b14661f 5774887b
000102030405060708090a0b0c0d0e0f 2 10 755 915294 2f3df75e b47c0943
000102030405060708090a0b0c0d0e0f 2 10 459 583490 1cb8e742 99eb69cd
000102030405060708090a0b0c0d0e0f 0 12 1795 260099 1c0ff803 1d06fd19
000102030405060708090a0b0c0d0e0f 2 12 3307 137622 33ae1996 b30501ed
000102030405060708090a0b0c0d0e0f 1 12 493 53198 07b4cfce 626f66eb
000102030405060708090a0b0c0d0e0f 0 15 22569 30006 2c14f536 0d81843c
000102030405060708090a0b0c0d0e0f 2 15 11959 19486 175bcc1e ad773018
000102030405060708090a0b0c0d0e0f 0 15 25804 17348 326643c4 18d4b350
8f95f09245765f80256934e50c66207f 2 8 65 3559875 107651c3 9035b17c
8f95f09245765f80256934e50c66207f 0 8 111 3779512 1bf9abb8 3b6b3b9e
8f95f09245765f80256934e50c66207f 1 8 173 2703278 2b693fae 7928dc9d
8f95f09245765f80256934e50c66207f 2 10 274 961317 112eab25 a759403a
8f95f09245765f80256934e50c66207f 1 10 742 772422 2e6bc946 7b24f775
8f95f09245765f80256934e50c66207f 0 10 32 838454 020ccb36 2cf0a600
8f95f09245765f80256934e50c66207f 0 12 3552 84871 37814b87 361491f1
8f95f09245765f80256934e50c66207f 0 12 2283 220754 23af5e52 0c7f1e75
8f95f09245765f80256934e50c66207f 1 12 2304 63733 2400f8f5 607b8151
8f95f09245765f80256934e50c66207f 1 15 12000 32007 17707d07 7b554f0e
8f95f09245765f80256934e50c66207f 2 15 13697 30586 1ac0f77a 94bb55ac
8f95f09245765f80256934e50c66207f 2 15 15587 11203 1e71abc3 bbabfed6
f991813ca062ab9d090fa063cd042b6f 0 8 206 1309719 3393fc17 332b434b
f991813ca062ab9d090fa063cd042b6f 2 8 70 4017208 11bd4c38 bc26fa0a
f991813ca062ab9d090fa063cd042b6f 0 8 164 664976 290a2590 393c65f8
f991813ca062ab9d090fa063cd042b6f 0 10 878 588911 36e8fc6f 32149ec2
f991813ca062ab9d090fa063cd042b6f 0 10 456 605752 1c893e38 2a92b9c9
f991813ca062ab9d090fa063cd042b6f 0 10 242 815836 0f2c72dc 2d9345b0
f991813ca062ab9d090fa063cd042b6f 0 12 1764 242196 1b93b214 245742d1
f991813ca062ab9d090fa063cd042b6f 2 12 2852 86613 2c915255 933061a5
f991813ca062ab9d090fa063cd042b6f 0 12 3338 28955 3428711b 302feeec
f991813ca062ab9d090fa063cd042b6f 2 15 31640 20546 3dcc5042 a232dbb8
f991813ca062ab9d090fa063cd042b6f 2 15 4517 27834 08d2ecba 9c4c83cd
f991813ca062ab9d090fa063cd042b6f 0 15 27977 18067 36a4c693 351f867b
000102030405060708090a0b0c0d0e0f 0 10 0 0 00000000 192b53b1
000102030405060708090a0b0c0d0e0f 0 10 1023 1048575 3fffffff 01574e61
000102030405060708090a0b0c0d0e0f 0 10 0 1 00000001 18d1561b
000102030405060708090a0b0c0d0e0f 0 10 0 32768 00008000 14f78064
000102030405060708090a0b0c0d0e0f 0 10 0 32767 00007fff 0da71f70
""";

    public const string Rfc8684KeyToken = """
# RFC 8684: digest = SHA-256(key as 8 octets big-endian); token = digest[0..3] (big-endian), IDSN = digest[24..31]
# key_hex token_hex idsn_hex
0000000000000000 af5570f5 e5b2328de0e83dfc
0000000000000001 cd266215 19ec509083d00a50
0102030405060708 66840dda f5a101d3d29d6f72
ffffffffffffffff 12a3ae44 57fb595bbbacf0ca
b785627216ed6dcc 58e3b1be 482e3d9d075d1d76
cdb4336810a747c1 df363d9d e35adcfc64b23032
f5d78de05d593322 44170545 4c64aff9521e495a
8a830f11f4c1074b e6214624 737ce1910fb7f9cb
90c1ce597a06d0ee 16b1710f 54ff3651cf4e690b
9ad8a79b25d8f6e3 44716dbe dce1acfb147eb40b
29a82c17d8965e81 b7f89d72 0b579da58e039055
f60b1dd51d6e8cf5 5d54ffb3 10eecfb1adb20e11
92e57ba06045fcfe 2dea98dc 3990f453d668df0c
e0b24550b050b271 1875c3eb a0f5e8cda44e2f2f
b0665f8f7812a421 43f339a6 c184cf72cbcb94bb
52835610c2f3328c 10754845 dc05a9969dd589d5
""";

    /// <summary>One token-v1 line: key, key id, k, server id, nonce, X, token.</summary>
    public sealed record TokenLine(byte[] Key, int KeyId, int ServerIdBits, uint ServerId, uint Nonce, uint X, uint Token)
    {
        public override string ToString() => $"{Convert.ToHexString(Key)} {KeyId} {ServerIdBits} {ServerId} {Nonce} {X:x8} {Token:x8}";
    }

    public static IEnumerable<string[]> Rows(string text)
        => text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    public static IReadOnlyList<TokenLine> TokenLines() => Rows(TokenV1).Select(f => new TokenLine(
        Convert.FromHexString(f[0]), int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
        uint.Parse(f[3], CultureInfo.InvariantCulture), uint.Parse(f[4], CultureInfo.InvariantCulture),
        uint.Parse(f[5], NumberStyles.HexNumber, CultureInfo.InvariantCulture), uint.Parse(f[6], NumberStyles.HexNumber, CultureInfo.InvariantCulture))).ToList();

    public static uint Hex32(string s) => uint.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    public static ulong Hex64(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
