namespace Switchyard.Management.Options;

/// <summary>
/// QUIC-LB (draft-ietf-quic-load-balancers-21): the configurations UDP VIPs with <c>QuicLb: true</c>
/// decode connection IDs with. Several live at once, one per config id (the top three bits of the CID's
/// first octet): that is how keys rotate without breaking connections (add the new one under an unused
/// id, move the servers to it, remove the old one). Backends carry their <c>QuicServerId</c>.
/// </summary>
public sealed class QuicLbOptions
{
    public QuicLbConfigOptions[] Configs { get; set; } = [];

    public QuicLbOptions Copy()
    {
        var c = (QuicLbOptions)MemberwiseClone();
        c.Configs = [.. Configs.Select(x => x.Copy())];
        return c;
    }
}

public sealed class QuicLbConfigOptions
{
    /// <summary>0..6 (7 marks unroutable CIDs).</summary>
    public int ConfigId { get; set; }
    /// <summary>Server id length in octets, 1..15.</summary>
    public int ServerIdLength { get; set; } = 3;
    /// <summary>Nonce length in octets, 4..18; server id + nonce at most 19 (CIDs are at most 20 octets).</summary>
    public int NonceLength { get; set; } = 6;
    /// <summary>AES-128 key as 32 hex digits; absent or "" = plaintext CIDs (the server id is readable by anyone).</summary>
    public string? Key { get; set; }
    /// <summary>The servers self-encode the CID length in the first octet's low five bits (draft-21 2.3; Switchyard's
    /// minter always does): route by the CID only when those bits agree with the DCID's length. Default false.</summary>
    public bool SelfEncodedLength { get; set; }

    public QuicLbConfigOptions Copy() => (QuicLbConfigOptions)MemberwiseClone();
}
