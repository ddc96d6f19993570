using System.Diagnostics;
using System.Runtime.InteropServices;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A broker's child process: whether it is still alive, and ending it the way a test asks: SIGTERM (the broker shuts down
/// cleanly) or SIGKILL (a crash).
/// </summary>
public static class BrokerProcess
{
    private const int SigTerm = 15;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>True while <paramref name="process"/> (null before a start and after a stop) is alive.</summary>
    public static bool IsAlive(Process? process)
    {
        if (process is null)
            return false;
        try
        {
            return !process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Signals <paramref name="process"/> and waits until it exited, then disposes it: waiting for the exit (not just the
    /// signal) is what guarantees that the broker saved its state and released its port before a restart. A graceful stop
    /// that takes longer than 10 s becomes a kill, noted through <paramref name="note"/>.
    /// </summary>
    public static async Task TerminateAsync(Process process, bool graceful, Action<string> note)
    {
        try
        {
            if (!process.HasExited)
            {
                // .NET's Process.Kill only sends SIGKILL; SIGTERM needs libc's kill(2).
                if (!graceful || NativeMethods.kill(process.Id, SigTerm) != 0)
                    process.Kill(entireProcessTree: false);
            }

            using var cts = new CancellationTokenSource(StopTimeout);
            try
            {
                await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                note("graceful stop timed out, sending SIGKILL");
                process.Kill(entireProcessTree: false);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // The process was never started or is already gone: nothing left to stop.
        }
        finally
        {
            process.Dispose();
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport would require AllowUnsafeBlocks in a project we do not own.
        internal static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
    }
}
