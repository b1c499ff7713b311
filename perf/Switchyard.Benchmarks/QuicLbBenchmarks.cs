using BenchmarkDotNet.Attributes;
using Switchyard.Dataplane.Datapath.Quic;

namespace Switchyard.Benchmarks;

/// <summary>
/// QUIC-LB CID decoding (draft-21), in ns per CID: every benchmark decodes <see cref="Cids"/> CIDs per
/// invoke (OperationsPerInvoke); the batched rows run Cids / batch calls. "FourPass": 10-octet CIDs
/// (3-octet server id, 6-octet nonce, AES four-pass, three decryption passes); "Mixed": all three
/// algorithms and four configurations live at once, as during a rotation. Allocated must read "-".
/// </summary>
[MemoryDiagnoser, MinColumn]
public class QuicLbBenchmarks
{
    const int Cids = 4096; // per invoke; a multiple of 64

    QuicLbConfigSet _set = null!;
    QuicCid[] _fourPass = null!, _mixed = null!;
    QuicServerId[] _ids = null!;
    QuicLbResult[] _results = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(21);
        var key = Convert.FromHexString("8f95f09245765f80256934e50c66207f");
        QuicLbConfig[] configs =
        [
            new(0, 3, 6, key),   // four-pass, 9 octets (odd), 3 passes
            new(1, 10, 5, key),  // four-pass, 15 octets, 4 passes
            new(2, 8, 8, key),   // single-pass AES-128-ECB
            new(3, 4, 8),        // plaintext
        ];
        _set = new QuicLbConfigSet(configs);
        _fourPass = Make(rng, [configs[0]]);
        _mixed = Make(rng, configs);
        _ids = new QuicServerId[Cids];
        _results = new QuicLbResult[Cids];
    }

    static QuicCid[] Make(Random rng, QuicLbConfig[] configs)
    {
        var cids = new QuicCid[Cids];
        for (int i = 0; i < Cids; i++)
        {
            var c = configs[rng.Next(configs.Length)];
            var sid = new byte[c.ServerIdLength]; rng.NextBytes(sid);
            var nonce = new byte[c.NonceLength]; rng.NextBytes(nonce);
            var cid = new byte[c.CidLength];
            QuicLbCipher.Encode(c, (byte)rng.Next(32), sid, nonce, cid);
            cids[i] = new QuicCid(cid);
        }
        return cids;
    }

    [Benchmark(OperationsPerInvoke = Cids, Baseline = true)]
    public ulong ScalarFourPass() => Scalar(_fourPass);

    [Benchmark(OperationsPerInvoke = Cids)]
    public ulong ScalarMixed() => Scalar(_mixed);

    [Benchmark(OperationsPerInvoke = Cids)]
    [Arguments(8)]
    [Arguments(32)]
    [Arguments(64)]
    public int BatchedFourPass(int batch) => Batched(_fourPass, batch);

    [Benchmark(OperationsPerInvoke = Cids)]
    [Arguments(32)]
    public int BatchedMixed(int batch) => Batched(_mixed, batch);

    ulong Scalar(QuicCid[] cids)
    {
        ulong acc = 0;
        for (int i = 0; i < cids.Length; i++)
        {
            QuicLbDecoder.DecodeServerId(ref cids[i], _set, out var sid);
            acc += sid.Lo;
        }
        return acc;
    }

    int Batched(QuicCid[] cids, int batch)
    {
        int ok = 0;
        for (int i = 0; i < cids.Length; i += batch)
            ok += QuicLbDecoder.DecodeServerIds(cids.AsSpan(i, batch), _ids.AsSpan(i, batch), _results.AsSpan(i, batch), _set);
        return ok;
    }
}
