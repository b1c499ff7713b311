using System.Runtime.CompilerServices;
using Switchyard.Dataplane.Native;

namespace Switchyard.Tests.Native;

/// <summary>
/// The managed mirrors of structs shared with the C shim have the size the loaded library was built
/// with. Needs `make -C native` first; a missing library fails these tests (never skipped), so a CI
/// run that forgot to build the shim cannot pass.
/// </summary>
public class ShimLayoutTests
{
    [Fact]
    public void Shim_library_loads()
    {
        Shim.EnsureLoaded();
    }

    [Fact]
    public void Port_stats_struct_has_the_size_of_sy_port_stats_t()
    {
        Shim.EnsureLoaded();
        Assert.Equal((int)Shim.sy_sizeof_port_stats(), Unsafe.SizeOf<PortStats>());
        Assert.Equal(64, Unsafe.SizeOf<PortStats>());
    }

    [Fact]
    public void Port_link_struct_has_the_size_of_sy_port_link_t()
    {
        Shim.EnsureLoaded();
        Assert.Equal((int)Shim.sy_sizeof_port_link(), Unsafe.SizeOf<PortLink>());
        Assert.Equal(8, Unsafe.SizeOf<PortLink>());
    }

    [Fact]
    public void Strerror_returns_dpdk_text_for_either_sign()
    {
        Shim.EnsureLoaded();
        // rte_strerror works without EAL (it falls back to strerror for plain errno values).
        Assert.Equal("Invalid argument", Dpdk.ErrorText(22));
        Assert.Equal("Invalid argument", Dpdk.ErrorText(-22));
    }

    [Fact]
    public void Unregistered_thread_has_no_lcore_id()
    {
        Shim.EnsureLoaded();
        Assert.Equal(Shim.LcoreIdAny, Shim.sy_lcore_id());
    }

    [Fact]
    public void Dpdk_exception_names_the_call_the_subject_and_the_dpdk_text()
    {
        Shim.EnsureLoaded();
        var e = new DpdkException("rte_eth_dev_configure", "port 0 'net_pcap0'", -22);
        Assert.Equal("rte_eth_dev_configure(port 0 'net_pcap0'): Invalid argument", e.Message);
        Assert.Equal(22, e.Errno);
    }
}
