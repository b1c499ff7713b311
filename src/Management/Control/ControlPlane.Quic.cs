using Switchyard.Management.Options;

namespace Switchyard.Management.Control;

/// <summary>QUIC-LB configurations changed live (<c>switchyard ctl quic ...</c>), through the one change path.</summary>
public sealed partial class ControlPlane
{
    /// <summary>Installs (or replaces) the QUIC-LB configuration at <paramref name="configId"/>. CIDs minted
    /// under the other codepoints keep routing; CIDs of a replaced configuration at this id stop routing by CID
    /// (they fall back to the 4-tuple path). <paramref name="hexKey"/> null or "" = plaintext.</summary>
    public ChangeResult SetQuicConfig(int configId, int serverIdLength, int nonceLength, string? hexKey, bool selfEncodedLength = false) =>
        Apply($"quic set {configId}", (o, _) =>
        {
            var configs = o.QuicLb.Configs.Where(c => c.ConfigId != configId).ToList();
            configs.Add(new QuicLbConfigOptions { ConfigId = configId, ServerIdLength = serverIdLength, NonceLength = nonceLength, Key = hexKey, SelfEncodedLength = selfEncodedLength });
            o.QuicLb.Configs = [.. configs.OrderBy(c => c.ConfigId)];
        });

    /// <summary>Removes the QUIC-LB configuration at <paramref name="configId"/>: its CIDs take the 4-tuple path.</summary>
    public ChangeResult RemoveQuicConfig(int configId) => Apply($"quic remove {configId}", (o, _) =>
    {
        if (!o.QuicLb.Configs.Any(c => c.ConfigId == configId))
            throw new ConfigurationException("QuicLb.Configs", $"no QUIC-LB configuration with config id {configId}");
        o.QuicLb.Configs = [.. o.QuicLb.Configs.Where(c => c.ConfigId != configId)];
    });
}
