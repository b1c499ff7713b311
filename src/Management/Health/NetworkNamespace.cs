using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Switchyard.Management.Health;

/// <summary>
/// Sockets in a named network namespace (/var/run/netns/NAME, as `ip netns add` creates) from a process that runs
/// elsewhere: the calling thread enters the namespace with setns(2), creates the socket, and returns at once. A socket
/// stays in the namespace it was created in, so everything done with it later (bind, connect, async I/O on any
/// thread) happens there. Used by tests, and by a management process that lives outside the appliance's namespace.
/// </summary>
public static partial class NetworkNamespace
{
    const int CloneNewNet = 0x4000_0000;
    const int ORdOnly = 0, OCloExec = 0x80000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    /// <summary>A <see cref="SocketFactory"/> whose sockets live in namespace <paramref name="name"/>.</summary>
    public static SocketFactory Sockets(string name) => (f, t, p) => Run(name, () => CreateSocket(f, t, p));

    /// <summary>
    /// A socket in the caller's namespace. Raw sockets are opened with socket(2) directly and wrapped: .NET's own
    /// constructor refuses IP protocols it has no name for (GRE 47, IPIP 4 as a raw protocol).
    /// </summary>
    public static Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol)
    {
        if (type != SocketType.Raw || family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            return new Socket(family, type, protocol);
        const int SockRaw = 3, SockCloexec = 0x80000, AfInet = 2, AfInet6 = 10;
        int fd = socket(family == AddressFamily.InterNetwork ? AfInet : AfInet6, SockRaw | SockCloexec, (int)protocol);
        if (fd < 0) throw new SocketException(Marshal.GetLastPInvokeError());
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    /// <summary>Runs <paramref name="action"/> on the calling thread inside namespace <paramref name="name"/>. It must
    /// not await: only the synchronous part runs in the namespace.</summary>
    public static T Run<T>(string name, Func<T> action)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/')) throw new ArgumentException($"'{name}' is not a namespace name");
        int self = Open("/proc/thread-self/ns/net");
        try
        {
            int target = Open($"/var/run/netns/{name}");
            try
            {
                if (setns(target, CloneNewNet) != 0)
                    throw new IOException($"setns({name}): {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
            finally { close(target); }
            try { return action(); }
            finally
            {
                // A thread left in the wrong namespace would silently misplace every later socket of the pool thread.
                if (setns(self, CloneNewNet) != 0)
                    Environment.FailFast($"setns back to the original network namespace failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
        }
        finally { close(self); }
    }

    static int Open(string path)
    {
        int fd = open(path, ORdOnly | OCloExec);
        if (fd < 0) throw new IOException($"open {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return fd;
    }
}
