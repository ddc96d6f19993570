using System.Collections.Concurrent;
using System.Diagnostics;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A broker that is one child process on one loopback port (Mosquitto, aedes): launched with its output captured into
/// one ordered log that outlives each incarnation, so a test that restarts the broker can still assert on what an
/// earlier one logged; started again on the same port after a stop, retrying while the port is briefly still in use.
/// </summary>
public abstract class ChildProcessBroker : BrokerHarness
{
    private readonly ConcurrentQueue<string> _log = new();
    private Process? _process;

    /// <summary>Fixed for the broker's lifetime: restarts reuse it so clients can reconnect to the same endpoint.</summary>
    public int Port { get; protected set; }

    /// <summary>True while the current process is alive.</summary>
    public override bool IsRunning => BrokerProcess.IsAlive(_process);

    /// <summary>Snapshot of everything every incarnation of the broker printed (stdout and stderr), in order.</summary>
    public IReadOnlyList<string> LogLines => _log.ToArray();

    public IEnumerable<string> LogLinesContaining(string text) =>
        LogLines.Where(line => line.Contains(text, StringComparison.Ordinal));

    /// <summary>How long one incarnation may take to become ready.</summary>
    protected abstract TimeSpan StartTimeout { get; }

    /// <summary>What to run; the output redirections are set here.</summary>
    protected abstract ProcessStartInfo CreateStartInfo();

    /// <summary>Added to the error when the program cannot be started at all (what installs it).</summary>
    protected virtual string MissingProgramHint => "";

    /// <summary>
    /// Whether the running incarnation is ready, judged by the lines it printed (the log holds the earlier incarnations'
    /// lines too, so only these count) and whatever else the broker needs checked.
    /// </summary>
    protected abstract Task<bool> IsReadyAsync(IEnumerable<string> linesOfThisIncarnation);

    /// <summary>Whether a line says the listener could not bind its port.</summary>
    protected abstract bool IsBindFailure(string line);

    /// <summary>
    /// Launches the broker and waits until it is ready. Returns false (process gone) when the port stayed in use for all
    /// <paramref name="bindAttempts"/> and <paramref name="throwIfPortInUse"/> is false; throws with the broker log on any
    /// other failure.
    /// </summary>
    protected override async Task<bool> StartProcessAsync(int bindAttempts, bool throwIfPortInUse)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);

        // On restart the port must stay the same, and it can briefly still be in use (a process that has not fully
        // exited, someone else's short-lived socket). The brokers exit at once on a failed bind, so retrying the whole
        // start after a short pause is simple and sufficient.
        for (var attempt = 1; ; attempt++)
        {
            var logCountBefore = _log.Count;
            var process = Launch();
            _process = process;

            var result = await WaitUntilReadyAsync(process, logCountBefore).ConfigureAwait(false);
            if (result == StartResult.Ready)
                return true;

            var bindFailed = result == StartResult.Exited && _log.Skip(logCountBefore).Any(IsBindFailure);
            await TerminateAsync(process, graceful: false).ConfigureAwait(false);
            _process = null;

            if (bindFailed && attempt < bindAttempts)
            {
                await Task.Delay(200 * attempt).ConfigureAwait(false);
                continue;
            }

            if (bindFailed && !throwIfPortInUse)
                return false;

            throw new InvalidOperationException(
                $"{BrokerName} did not become ready on 127.0.0.1:{Port} " +
                $"({(result == StartResult.Exited ? "process exited" : "timed out")}, attempt {attempt}).\n" +
                "Log:\n" + string.Join('\n', LogLines));
        }
    }

    protected override async Task StopProcessAsync(bool graceful)
    {
        var process = _process;
        _process = null;
        if (process is not null)
            await TerminateAsync(process, graceful).ConfigureAwait(false);
    }

    private Process Launch()
    {
        var psi = CreateStartInfo();
        psi.UseShellExecute = false;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = false;
        psi.CreateNoWindow = true;
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };

        // Both streams land in the one ordered log, so that nothing a broker prints is lost.
        DataReceivedEventHandler capture = (_, e) =>
        {
            if (e.Data is not null)
                _log.Enqueue(e.Data);
        };
        process.OutputDataReceived += capture;
        process.ErrorDataReceived += capture;

        try
        {
            if (!process.Start())
                throw new InvalidOperationException($"Could not start {psi.FileName}.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException($"Could not start {psi.FileName}.{MissingProgramHint}", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<StartResult> WaitUntilReadyAsync(Process process, int logCountBefore)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                // WaitForExitAsync also waits for the async readers to drain the final lines (e.g. the bind error).
                await process.WaitForExitAsync().ConfigureAwait(false);
                return StartResult.Exited;
            }

            if (await IsReadyAsync(_log.Skip(logCountBefore)).ConfigureAwait(false) && !process.HasExited)
                return StartResult.Ready;

            await Task.Delay(50).ConfigureAwait(false);
        }

        return StartResult.TimedOut;
    }

    private Task TerminateAsync(Process process, bool graceful) =>
        BrokerProcess.TerminateAsync(process, graceful, note => _log.Enqueue($"[{GetType().Name}] {note}"));

    private enum StartResult
    {
        Ready,
        Exited,
        TimedOut,
    }
}
