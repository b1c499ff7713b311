using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Tests.Mptcp;

/// <summary>RFC 8684 key -> token and IDSN against shared/vectors/rfc8684-key-token.txt.</summary>
public sealed class TokenLearningTests
{
    [Fact]
    public void Every_vector_key_gives_its_token_and_idsn()
    {
        int lines = 0;
        foreach (var f in TokenVectors.Rows(TokenVectors.Rfc8684KeyToken))
        {
            ulong key = TokenVectors.Hex64(f[0]);
            TokenLearning.Derive(key, out uint token, out ulong idsn);
            Assert.Equal(TokenVectors.Hex32(f[1]), token);
            Assert.Equal(TokenVectors.Hex64(f[2]), idsn);
            Assert.Equal(token, TokenLearning.Token(key));
            lines++;
        }
        Assert.Equal(16, lines);
    }

    [Fact]
    public void Deriving_a_token_allocates_nothing()
    {
        TokenLearning.Derive(1, out _, out _); // first call initialises the hash provider
        long before = GC.GetAllocatedBytesForCurrentThread();
        uint acc = 0;
        for (ulong k = 0; k < 1000; k++)
        {
            TokenLearning.Derive(k, out uint t, out ulong idsn);
            acc ^= t ^ (uint)idsn ^ TokenLearning.Token(k);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0u, acc);
    }
}
