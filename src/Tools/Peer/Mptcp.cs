using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Switchyard.Peer;

/// <summary>One subflow of an MPTCP connection as the kernel reports it (MPTCP_TCPINFO + MPTCP_SUBFLOW_ADDRS).
/// SegsIn: tcpi_segs_in, every segment received on the subflow, its SYN/ACK included.</summary>
sealed record SubflowInfo(string Local, string Remote, ulong BytesSent, ulong BytesAcked, ulong BytesReceived, int State, uint SegsIn);

/// <summary>An MPTCP connection's state: MPTCP_INFO (token, flags) and its subflows.
/// Fallback: the connection was opened with IPPROTO_MPTCP but runs as plain TCP (the peer, or a middlebox, did not
/// do MPTCP): MPTCP_INFO_FLAG_FALLBACK, or TCP_IS_MPTCP = 0.</summary>
sealed record MptcpConnInfo(bool Fallback, uint Token, uint Flags, int InfoSubflows, ulong WriteSeq, ulong SndUna, ulong RcvNxt,
    IReadOnlyList<SubflowInfo> Subflows)
{
    public string TokenHex => Token.ToString("x8");
}

/// <summary>Linux MPTCP socket options via libc getsockopt on Socket.Handle. Layouts from include/uapi/linux/mptcp.h
/// (this machine's header is older than the 6.18 kernel; only the stable prefix of struct mptcp_info is read).</summary>
static class Mptcp
{
    public const int IPPROTO_MPTCP = 262;
    const int SOL_TCP = 6, TCP_INFO = 11, TCP_IS_MPTCP = 43;
    const int SOL_MPTCP = 284, MPTCP_INFO = 1, MPTCP_TCPINFO = 2, MPTCP_SUBFLOW_ADDRS = 3;
    const uint MPTCP_INFO_FLAG_FALLBACK = 1;
    const int MaxSubflows = 16;
    // struct tcp_info (linux/tcp.h): offsets checked with offsetof() on this machine; 232 = sizeof in that header.
    const int TcpInfoSize = 232, OffState = 0, OffBytesAcked = 120, OffBytesReceived = 128, OffSegsIn = 140, OffBytesSent = 200;
    const int SubflowDataHeader = 16;  // struct mptcp_subflow_data
    const int SubflowAddrsSize = 256;  // struct mptcp_subflow_addrs: two __kernel_sockaddr_storage

    [DllImport("libc", SetLastError = true)]
    static extern unsafe int getsockopt(int fd, int level, int optname, void* optval, ref int optlen);

    [DllImport("libc", SetLastError = true)]
    static extern int socket(int domain, int type, int protocol);

    /// <summary>An MPTCP stream socket. .NET's Socket(af, Stream, (ProtocolType)262) throws ProtocolNotSupported
    /// (its PAL only maps the protocols it knows), so the fd comes from libc socket() and .NET adopts it.</summary>
    public static Socket NewStreamSocket(AddressFamily af)
    {
        const int SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
        int domain = af == AddressFamily.InterNetworkV6 ? 10 : 2;
        int fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // EPROTONOSUPPORT (93) / ENOPROTOOPT (92): no MPTCP in this kernel, or net.mptcp.enabled=0 in this namespace.
            throw new SocketException(errno == 93 || errno == 92 ? (int)SocketError.ProtocolNotSupported : (int)SocketError.SocketError);
        }
        return new Socket(new SafeSocketHandle((IntPtr)fd, ownsHandle: true));
    }

    /// <summary>TCP_IS_MPTCP: 1 while the socket is MPTCP and has not fallen back; null if the option fails.</summary>
    public static unsafe bool? IsMptcp(Socket s)
    {
        int v = 0, len = sizeof(int);
        int fd = (int)s.Handle;
        return getsockopt(fd, SOL_TCP, TCP_IS_MPTCP, &v, ref len) == 0 ? v != 0 : null;
    }

    /// <summary>Reads the connection's MPTCP state; null when the socket is not an MPTCP socket at all.</summary>
    public static unsafe MptcpConnInfo? Query(Socket s)
    {
        int fd = (int)s.Handle;
        var info = new byte[256];
        int len = info.Length;
        bool haveInfo;
        fixed (byte* p = info) haveInfo = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, p, ref len) == 0;
        bool? isMptcp = IsMptcp(s);
        if (!haveInfo && isMptcp is null) return null;

        uint flags = haveInfo ? BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(8)) : 0;
        bool fallback = (haveInfo && (flags & MPTCP_INFO_FLAG_FALLBACK) != 0) || isMptcp == false || !haveInfo;
        var subflows = new List<SubflowInfo>();

        // MPTCP_TCPINFO: struct mptcp_subflow_data header, then one tcp_info per subflow, stride = size_user as returned.
        var ti = new byte[SubflowDataHeader + MaxSubflows * TcpInfoSize];
        BinaryPrimitives.WriteUInt32LittleEndian(ti.AsSpan(0), SubflowDataHeader);
        BinaryPrimitives.WriteUInt32LittleEndian(ti.AsSpan(12), TcpInfoSize);
        var ad = new byte[SubflowDataHeader + MaxSubflows * SubflowAddrsSize];
        BinaryPrimitives.WriteUInt32LittleEndian(ad.AsSpan(0), SubflowDataHeader);
        BinaryPrimitives.WriteUInt32LittleEndian(ad.AsSpan(12), SubflowAddrsSize);
        bool haveTi = false, haveAd = false;
        // Two calls, two views: a subflow that opens or closes between them (the peer closing a join at the end of a
        // connection) lists one more tcp_info than addresses, or the other way round. Read both again until they agree.
        for (int attempt = 0; attempt < 8; attempt++)
        {
            int tlen = ti.Length;
            fixed (byte* p = ti) haveTi = getsockopt(fd, SOL_MPTCP, MPTCP_TCPINFO, p, ref tlen) == 0;
            int alen = ad.Length;
            fixed (byte* p = ad) haveAd = getsockopt(fd, SOL_MPTCP, MPTCP_SUBFLOW_ADDRS, p, ref alen) == 0;
            if (!haveTi || !haveAd || BinaryPrimitives.ReadUInt32LittleEndian(ti.AsSpan(4)) == BinaryPrimitives.ReadUInt32LittleEndian(ad.AsSpan(4)))
                break;
        }

        if (haveTi)
        {
            int n = (int)BinaryPrimitives.ReadUInt32LittleEndian(ti.AsSpan(4));
            int stride = (int)BinaryPrimitives.ReadUInt32LittleEndian(ti.AsSpan(12));
            int an = haveAd ? (int)BinaryPrimitives.ReadUInt32LittleEndian(ad.AsSpan(4)) : 0;
            int astride = haveAd ? (int)BinaryPrimitives.ReadUInt32LittleEndian(ad.AsSpan(12)) : 0;
            for (int i = 0; i < Math.Min(n, MaxSubflows); i++)
            {
                int eoff = SubflowDataHeader + i * stride;
                var e = ti.AsSpan(eoff, stride);
                ulong U64(int off) => off + 8 <= stride ? BinaryPrimitives.ReadUInt64LittleEndian(ti.AsSpan(eoff + off)) : 0;
                uint U32(int off) => off + 4 <= stride ? BinaryPrimitives.ReadUInt32LittleEndian(ti.AsSpan(eoff + off)) : 0;
                string local = "?", remote = "?";
                if (haveAd && i < an && astride >= SubflowAddrsSize)
                {
                    var a = ad.AsSpan(SubflowDataHeader + i * astride, astride);
                    local = SockAddr(a[..128]);
                    remote = SockAddr(a[128..256]);
                }
                subflows.Add(new SubflowInfo(local, remote, U64(OffBytesSent), U64(OffBytesAcked), U64(OffBytesReceived), e[OffState], U32(OffSegsIn)));
            }
        }
        else
        {
            // Fallen back: the socket is one plain TCP connection; MPTCP_TCPINFO is not served then. Report it as its
            // only "subflow" from TCP_INFO so byte counts stay comparable.
            var t = new byte[TcpInfoSize];
            int l = t.Length;
            bool ok;
            fixed (byte* p = t) ok = getsockopt(fd, SOL_TCP, TCP_INFO, p, ref l) == 0;
            if (ok)
                subflows.Add(new SubflowInfo(s.LocalEndPoint?.ToString() ?? "?", s.RemoteEndPoint?.ToString() ?? "?",
                    BinaryPrimitives.ReadUInt64LittleEndian(t.AsSpan(OffBytesSent)), BinaryPrimitives.ReadUInt64LittleEndian(t.AsSpan(OffBytesAcked)),
                    BinaryPrimitives.ReadUInt64LittleEndian(t.AsSpan(OffBytesReceived)), t[OffState],
                    BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(OffSegsIn))));
        }

        return new MptcpConnInfo(fallback,
            haveInfo ? BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(12)) : 0, flags,
            haveInfo ? info[0] : 0,
            haveInfo ? BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(16)) : 0,
            haveInfo ? BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(24)) : 0,
            haveInfo ? BinaryPrimitives.ReadUInt64LittleEndian(info.AsSpan(32)) : 0,
            subflows);
    }

    /// <summary>Whether the kernel's scheduler may put data on every listed subflow. A join is listed from its SYN and is
    /// ESTABLISHED (tcpi_state 1) at its SYN/ACK, but it carries no data until it is fully established: until the peer's
    /// ACK of the MP_JOIN third ACK (the fourth packet) arrives (__mptcp_subflow_active in net/mptcp/protocol.h). The peer
    /// sends that ACK at once on the third ACK (check_fully_established in net/mptcp/options.c), and a join carries nothing
    /// from the peer before it, so tcpi_segs_in >= 2 (SYN/ACK + that ACK) is the earliest sign of it that getsockopt shows
    /// (a SYN/ACK retransmission counts too: rare, and it only ends the wait early). The first subflow passes once the
    /// peer acked anything, which the path manager waits for before it opens the joins.</summary>
    public static bool AllSubflowsCanSend(MptcpConnInfo q) => q.Subflows.All(sf => sf.State == 1 && sf.SegsIn >= 2);

    /// <summary>Number of subflows only (MPTCP_TCPINFO header with no elements requested): cheap enough to poll.</summary>
    public static unsafe int SubflowCount(Socket s)
    {
        var h = new byte[SubflowDataHeader];
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0), SubflowDataHeader);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(12), TcpInfoSize);
        int len = h.Length;
        fixed (byte* p = h)
            if (getsockopt((int)s.Handle, SOL_MPTCP, MPTCP_TCPINFO, p, ref len) != 0) return -1;
        return (int)BinaryPrimitives.ReadUInt32LittleEndian(h.AsSpan(4));
    }

    /// <summary>sockaddr_in / sockaddr_in6 (network byte order port) as "addr:port" / "[addr]:port".</summary>
    static string SockAddr(ReadOnlySpan<byte> sa)
    {
        ushort family = BinaryPrimitives.ReadUInt16LittleEndian(sa);
        int port = BinaryPrimitives.ReadUInt16BigEndian(sa[2..]);
        return family switch
        {
            2 => new IPEndPoint(new IPAddress(sa.Slice(4, 4)), port).ToString(),
            10 => new IPEndPoint(new IPAddress(sa.Slice(8, 16)), port).ToString(),
            _ => $"family{family}",
        };
    }
}
