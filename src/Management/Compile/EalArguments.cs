using Switchyard.Management.Options;

namespace Switchyard.Management.Compile;

/// <summary>The EAL argument vector derived from the <c>Eal</c> section.</summary>
public static class EalArguments
{
    /// <summary>
    /// argv for rte_eal_init: program name, -l, --file-prefix, -a per allowed PCI device, --vdev per
    /// virtual device, hugepage flags, then the raw <c>Args</c> last so they can add anything else.
    /// <paramref name="freeHugepages"/> decides "auto": hugepages when some are free, else --no-huge
    /// with -m MemoryMb (slower, but runs on a machine nobody prepared).
    /// </summary>
    public static string[] Build(EalOptions eal, bool freeHugepages, string program = "switchyard")
    {
        var a = new List<string> { program };
        if (eal.Lcores is not null) { a.Add("-l"); a.Add(eal.Lcores); }
        if (eal.FilePrefix is not null) a.Add($"--file-prefix={eal.FilePrefix}");
        foreach (var pci in eal.Allow) { a.Add("-a"); a.Add(pci); }
        foreach (var v in eal.Vdevs) a.Add($"--vdev={v}");
        bool noHuge = eal.Hugepages.ToLowerInvariant() switch
        {
            "off" => true,
            "require" => false,
            _ => !freeHugepages,
        };
        if (noHuge) { a.Add("--no-huge"); a.Add("-m"); a.Add(eal.MemoryMb.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        a.AddRange(eal.Args);
        return [.. a];
    }

    /// <summary>Whether any hugepage size has free pages (sums /sys/kernel/mm/hugepages/*/free_hugepages).</summary>
    public static bool FreeHugepagesExist(string root = "/sys/kernel/mm/hugepages")
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(root, "hugepages-*"))
                if (long.TryParse(File.ReadAllText(Path.Combine(dir, "free_hugepages")).Trim(), out long n) && n > 0) return true;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }
}
