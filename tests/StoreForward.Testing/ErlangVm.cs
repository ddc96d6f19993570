using System.Diagnostics;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Finds and kills the Erlang VM (beam.smp) of one RabbitMQ node through /proc. The VM is not a child of the test
/// process: <c>rabbitmq-server</c> is a shell script that starts <c>erl</c> in the background and waits for it, so
/// killing the script leaves the VM running. A node is recognised by what the VM's command line carries for it:
/// <c>-home &lt;its HOME&gt;</c> (a directory private to the node) and <c>-s rabbit boot</c> (a server, not a
/// rabbitmqctl VM, which also runs with that HOME).
/// </summary>
public static class ErlangVm
{
    /// <summary>Process ids of the live RabbitMQ server VMs whose HOME is <paramref name="home"/>.</summary>
    public static IReadOnlyList<int> FindServerPids(string home)
    {
        ArgumentException.ThrowIfNullOrEmpty(home);

        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid))
            {
                continue;
            }

            var args = ReadCommandLine(pid);
            if (args.Count > 0
                && args[0].EndsWith("beam.smp", StringComparison.Ordinal)
                && ContainsSequence(args, "-home", home)
                && ContainsSequence(args, "-s", "rabbit", "boot")
                && IsAlive(pid))
            {
                found.Add(pid);
            }
        }

        return found;
    }

    /// <summary>True while the process exists and is not a zombie (dead, waiting for its parent to reap it).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            // /proc/PID/stat: "PID (comm) STATE ..."; comm may contain spaces and parentheses, so look after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var end = stat.LastIndexOf(')');
            return end >= 0 && end + 2 < stat.Length && stat[end + 2] != 'Z' && stat[end + 2] != 'X';
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL for every server VM of <paramref name="home"/>; returns the pids it signalled.</summary>
    public static IReadOnlyList<int> KillServers(string home)
    {
        var pids = FindServerPids(home);
        foreach (var pid in pids)
        {
            try
            {
                // Process.Kill sends SIGKILL, also to a process that is not our child.
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: false);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }

        return pids;
    }

    /// <summary>Waits until no server VM of <paramref name="home"/> is alive; false on timeout.</summary>
    public static async Task<bool> WaitUntilGoneAsync(string home, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (FindServerPids(home).Count > 0)
        {
            if (Stopwatch.GetElapsedTime(started) >= timeout)
            {
                return false;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return true;
    }

    private static List<string> ReadCommandLine(int pid)
    {
        try
        {
            var raw = File.ReadAllBytes($"/proc/{pid}/cmdline");
            return [.. Encoding.UTF8.GetString(raw).Split('\0')];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The process exited while we looked, or is not ours to read.
            return [];
        }
    }

    private static bool ContainsSequence(List<string> args, params string[] sequence)
    {
        for (var i = 0; i + sequence.Length <= args.Count; i++)
        {
            var match = true;
            for (var j = 0; j < sequence.Length && match; j++)
            {
                match = string.Equals(args[i + j], sequence[j], StringComparison.Ordinal);
            }

            if (match)
            {
                return true;
            }
        }

        return false;
    }
}
