using BenchmarkDotNet.Attributes;
using Switchyard.Dataplane.Datapath.Steering.Tokens;

namespace Switchyard.Benchmarks;

/// <summary>
/// Encrypted-token steering (token format v1) and learned-token derivation, in ns per token: every
/// benchmark decrypts <see cref="Tokens"/> tokens per invoke (OperationsPerInvoke), so the batched
/// cases run Tokens / batch calls of one burst each. Tokens are random with key ids 0 and 1 mixed
/// as in a rotation ("Mixed") or all key id 0 ("Uniform"); allocated bytes must read 0.
/// Targets (issue): batched >= 4x faster than scalar and <= 8 ns per token. The Batched* cases run the
/// public dispatcher (the VAES kernel where the CPU and the shim have it, see TokenCipher.NativeKernel).
/// </summary>
[MemoryDiagnoser, MinColumn]
public class TokenBenchmarks
{
    const int Tokens = 4096; // per invoke; a multiple of 64

    TokenKeys _keys = null!;
    uint[] _uniform = null!, _mixed = null!, _ids = null!;
    byte[] _ok = null!;
    ulong[] _mptcpKeys = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        byte[] k0 = new byte[16], k1 = new byte[16];
        rng.NextBytes(k0);
        rng.NextBytes(k1);
        _keys = new TokenKeys(10, (0, k0), (1, k1));
        _uniform = new uint[Tokens];
        _mixed = new uint[Tokens];
        _mptcpKeys = new ulong[Tokens];
        for (int i = 0; i < Tokens; i++)
        {
            uint c = (uint)rng.Next() & 0x3FFF_FFFF;
            _uniform[i] = c;
            _mixed[i] = c | (uint)rng.Next(2) << 30;
            _mptcpKeys[i] = (ulong)rng.NextInt64();
        }
        _ids = new uint[Tokens];
        _ok = new byte[Tokens];
    }

    [Benchmark(OperationsPerInvoke = Tokens, Baseline = true)]
    public uint Scalar()
    {
        uint acc = 0;
        foreach (uint t in _uniform)
        {
            TokenCipher.TryDecryptServerId(t, _keys, out uint s);
            acc += s;
        }
        return acc;
    }

    [Benchmark(OperationsPerInvoke = Tokens)]
    public uint ScalarSoftwareAes()
    {
        uint acc = 0;
        foreach (uint t in _uniform)
        {
            TokenCipher.TryDecryptServerId<TokenCipher.SoftwarePrf>(t, _keys, out uint s);
            acc += s;
        }
        return acc;
    }

    [Benchmark(OperationsPerInvoke = Tokens)]
    [Arguments(8)]
    [Arguments(32)]
    [Arguments(64)]
    public int BatchedUniform(int batch) => Batched(_uniform, batch);

    [Benchmark(OperationsPerInvoke = Tokens)]
    [Arguments(8)]
    [Arguments(32)]
    [Arguments(64)]
    public int BatchedMixed(int batch) => Batched(_mixed, batch);

    /// <summary>A burst of 61: seven full groups and a tail of five (padded to eight lanes).</summary>
    [Benchmark(OperationsPerInvoke = 61 * 64)]
    public int BatchedTail61()
    {
        int n = 0;
        for (int i = 0; i < 64; i++)
            n += TokenCipher.DecryptServerIds(_uniform.AsSpan(i * 64, 61), _ids.AsSpan(i * 64, 61), _ok.AsSpan(i * 64, 61), _keys);
        return n;
    }

    /// <summary>The managed eight-lane AES-NI kernel explicitly (the fallback where VAES or the shim is missing).</summary>
    [Benchmark(OperationsPerInvoke = Tokens)]
    [Arguments(64)]
    public int ManagedAesNiMixed(int batch)
    {
        int n = 0;
        for (int i = 0; i < Tokens; i += batch)
            n += TokenCipher.DecryptServerIdsHardware(_mixed.AsSpan(i, batch), _ids.AsSpan(i, batch), _ok.AsSpan(i, batch), _keys);
        return n;
    }

    /// <summary>Each native VAES kernel explicitly (1 = AVX2 registers, 2 = AVX-512VL registers); -1 per call
    /// (a negative result) when this CPU lacks the kernel.</summary>
    [Benchmark(OperationsPerInvoke = Tokens)]
    [Arguments(1, 64)]
    [Arguments(2, 16)]
    [Arguments(2, 64)]
    public int VaesMixed(int kernel, int batch)
    {
        int n = 0;
        for (int i = 0; i < Tokens; i += batch)
            n += TokenCipher.DecryptServerIdsNative(kernel, _mixed.AsSpan(i, batch), _ids.AsSpan(i, batch), _ok.AsSpan(i, batch), _keys);
        return n;
    }

    [Benchmark(OperationsPerInvoke = Tokens)]
    public int BatchedSoftwareAes64()
    {
        int n = 0;
        for (int i = 0; i < Tokens; i += 64)
            n += TokenCipher.DecryptServerIdsOneByOne<TokenCipher.SoftwarePrf>(_uniform.AsSpan(i, 64), _ids.AsSpan(i, 64), _ok.AsSpan(i, 64), _keys);
        return n;
    }

    [Benchmark(OperationsPerInvoke = Tokens)]
    public uint LearnedTokenSha256()
    {
        uint acc = 0;
        foreach (ulong k in _mptcpKeys) acc += TokenLearning.Token(k);
        return acc;
    }

    int Batched(uint[] tokens, int batch)
    {
        int n = 0;
        for (int i = 0; i < Tokens; i += batch)
            n += TokenCipher.DecryptServerIds(tokens.AsSpan(i, batch), _ids.AsSpan(i, batch), _ok.AsSpan(i, batch), _keys);
        return n;
    }
}
