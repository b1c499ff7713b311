using System.Runtime.InteropServices;

namespace Switchyard.Management.Host;

/// <summary>
/// The last step of an orderly stop. Once the appliance has stopped its workers, closed its ports, printed its final
/// counters and removed DPDK's runtime directory, nothing is left to do but end the process. Under heavy load a few
/// test runs (issue 12's cluster tests, 2-core VM at load 15–40) saw an appliance that had logged that last line still
/// alive a minute later, somewhere in the runtime's and the shared libraries' exit path (cause not found; see the
/// README's known limitations). A supervisor would kill it (systemd after TimeoutStopSec), but only after the
/// timeout, and a test waits as long. <see cref="Arm"/> starts a background thread that, if the process still
/// exists after <c>grace</c>, says so on the log and ends it with <c>_exit</c> and the exit code already decided.
/// A normal exit ends the thread with the process, unnoticed.
/// </summary>
public static partial class ExitWatchdog
{
    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void Exit(int status);

    public static void Arm(int exitCode, TimeSpan grace, TextWriter log)
    {
        var t = new Thread(() =>
        {
            Thread.Sleep(grace); // a deadline, not a wait for a condition: the condition is "the process is gone"
            try
            {
                log.WriteLine($"switchyard: still running {grace.TotalSeconds:F0} s after the orderly shutdown; ending the process (exit code {exitCode})");
                log.Flush();
            }
            catch (IOException) { } // the log may be gone with the parent
            Exit(exitCode);
        })
        { IsBackground = true, Name = "sy-exit-watchdog" };
        t.Start();
    }
}
