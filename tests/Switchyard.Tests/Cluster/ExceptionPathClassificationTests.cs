using Switchyard.Dataplane.Datapath;
using Switchyard.Dataplane.Datapath.Worker;
using Switchyard.Tests.Infrastructure;
using Switchyard.Tests.Pipeline;
using static Switchyard.Tests.Pipeline.PipelineHarness;

namespace Switchyard.Tests.Cluster;

/// <summary>Which frames the workers hand to the kernel (issue 12's exception path): the receiving port's own
/// addresses, not answered by the dataplane, never a VIP's traffic; and nothing at all with the path off.</summary>
public class ExceptionPathClassificationTests
{
    static byte[] Tcp4(string dst, ushort port, string src = "198.51.100.7") =>
        FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4(src, dst).Tcp(40000, port, TcpFlags.Syn).PadTo(60).Build();
    static byte[] Echo4(string dst) => FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv4("198.51.100.7", dst).Icmp(8, 0, 0x00010001).PadTo(60).Build();
    static byte[] Tcp6(string dst, ushort port) => FrameBuilder.Ethernet(ClientMac, OutsideMac).Ipv6("2001:db8:9::7", dst).Tcp(40000, port, TcpFlags.Syn).Build();

    [Fact]
    public void Own_address_traffic_goes_to_the_kernel_and_vip_traffic_does_not()
    {
        using var h = new PipelineHarness(exceptionPath: true);
        Assert.Equal(Burst.ExceptionPort, h.Send(Tcp4("192.0.2.1", 179)).OutPort);                 // BGP to the port's address
        Assert.Equal(Burst.ExceptionPort, h.Send(Echo4("192.0.2.1")).OutPort);                      // ping
        Assert.Equal(Burst.ExceptionPort, h.Send(Tcp6("2001:db8::1", 179)).OutPort);                // IPv6
        Assert.Equal(Burst.ExceptionPort, h.Send(FrameBuilder.ArpReply("02:00:00:00:00:fe", "192.0.2.254", OutsideMac, "192.0.2.1")).OutPort);
        // ARP requests for our address are still answered by the dataplane itself.
        var arp = h.Send(FrameBuilder.ArpRequest(ClientMac, "192.0.2.254", "192.0.2.1"));
        Assert.Equal(Outside, arp.OutPort);
        // A VIP's address is the dataplane's: a port that is not a service is dropped, never given to the kernel.
        var notService = h.Send(Tcp4("192.0.2.100", 9999));
        Assert.True(notService.Dropped);
        Assert.True(h.Send(Tcp4("192.0.2.100", 80)).OutPort == Outside || !h.Send(Tcp4("192.0.2.100", 80)).Dropped); // forwarded
        // Another port's address, received here, is not ours on this port.
        Assert.True(h.Send(Tcp4("10.0.0.1", 179)).Dropped);
        Assert.Equal(4, h.Counters.Get(Outcome.ToKernel));
        Assert.Equal(0, h.Counters.Get(DropReason.ExceptionRateLimited));
    }

    [Fact]
    public void Without_the_exception_path_own_address_traffic_is_dropped_as_before()
    {
        using var h = new PipelineHarness();
        Assert.True(h.Send(Tcp4("192.0.2.1", 179)).Dropped);
        Assert.True(h.Send(FrameBuilder.ArpReply("02:00:00:00:00:fe", "192.0.2.254", OutsideMac, "192.0.2.1")).Dropped);
        Assert.Equal(0, h.Counters.Get(Outcome.ToKernel));
        Assert.Equal(1, h.Counters.Get(DropReason.NotForVip));
        Assert.Equal(1, h.Counters.Get(DropReason.ArpNotForUs));
    }
}
