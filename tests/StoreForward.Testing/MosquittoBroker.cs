using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A real Mosquitto broker running as a child process, private to one test: its own temp
/// directory (config + persistence file) and its own loopback port. Tests use it to exercise
/// the library against a real broker, including crash (SIGKILL) and graceful (SIGTERM)
/// restarts with persistence, which an in-process broker cannot simulate faithfully.
/// </summary>
public sealed class MosquittoBroker : IAsyncDisposable
{
    /// <summary>Debian's mosquitto package installs the daemon here (it is not on a normal user's PATH).</summary>
    private const string MosquittoPath = "/usr/sbin/mosquitto";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);

    // The log outlives each process: a test that restarts the broker can still assert on what
    // the previous incarnation logged (e.g. that a resent PUBLISH arrived with d1).
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _configPath;
    private readonly MosquittoSettings _settings;

    // Serialises Start/Stop/Kill so that a test calling them from several tasks cannot leave
    // two mosquitto processes fighting over the same port and persistence file.
    private readonly LifecycleGate _lifecycle = new();

    private Process? _process;
    private bool _disposed;

    private MosquittoBroker(string dataDirectory, MosquittoSettings settings)
    {
        DataDirectory = dataDirectory;
        _configPath = Path.Combine(dataDirectory, "mosquitto.conf");
        _settings = settings;
    }

    /// <summary>Loopback only: tests must never talk to anything but 127.0.0.1.</summary>
#pragma warning disable CA1822 // Instance on purpose: tests read endpoint.Host / endpoint.Port as a pair.
    public string Host => "127.0.0.1";
#pragma warning restore CA1822

    /// <summary>Fixed for the broker's lifetime: restarts reuse it so clients can reconnect to the same endpoint.</summary>
    public int Port { get; private set; }

    /// <summary>Temp directory holding mosquitto.conf and the persistence file mosquitto.db.</summary>
    public string DataDirectory { get; }

    /// <summary>Path of the persistence file Mosquitto writes on autosave and on graceful stop.</summary>
    public string PersistenceFile => Path.Combine(DataDirectory, "mosquitto.db");

    /// <summary>True while the current mosquitto process is alive.</summary>
    public bool IsRunning
    {
        get
        {
            var process = _process;
            if (process is null)
            {
                return false;
            }

            try
            {
                return !process.HasExited;
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }
    }

    /// <summary>Snapshot of everything every incarnation of the broker printed, in order.</summary>
    public IReadOnlyList<string> LogLines => _log.ToArray();

    public static async Task<MosquittoBroker> StartAsync(MosquittoSettings? settings = null)
    {
        settings ??= new MosquittoSettings();

        var dataDirectory = Path.Combine(Path.GetTempPath(), "sf-mosq-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);

        var broker = new MosquittoBroker(dataDirectory, settings);
        try
        {
            // The free port we picked can be grabbed by someone else before Mosquitto binds it;
            // on the first start we are still free to pick another one.
            const int portAttempts = 3;
            for (var attempt = 1; ; attempt++)
            {
                await broker.UsePortAsync(LoopbackPort.Unused()).ConfigureAwait(false);
                if (await broker.StartProcessAsync(bindAttempts: 1, throwIfPortInUse: attempt == portAttempts).ConfigureAwait(false))
                {
                    return broker;
                }
            }
        }
        catch
        {
            await broker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public IEnumerable<string> LogLinesContaining(string text) =>
        LogLines.Where(line => line.Contains(text, StringComparison.Ordinal));

    /// <summary>
    /// Graceful stop: SIGTERM, then wait for exit. Mosquitto writes its persistence file while
    /// shutting down on SIGTERM, so everything acknowledged before this call survives a restart.
    /// </summary>
    public Task StopAsync() => OneAtATimeAsync(() => StopProcessAsync(graceful: true));

    /// <summary>
    /// Crash: SIGKILL. Nothing is flushed, so only what the last autosave wrote survives
    /// (see <see cref="MosquittoSettings.AutosaveInterval"/>).
    /// </summary>
    public Task KillAsync() => OneAtATimeAsync(() => StopProcessAsync(graceful: false));

    /// <summary>Graceful stop followed by a start on the same port, directory and config.</summary>
    public Task RestartAsync() => OneAtATimeAsync(async () =>
    {
        await StopProcessAsync(graceful: true).ConfigureAwait(false);
        await StartProcessAsync(bindAttempts: 5, throwIfPortInUse: true).ConfigureAwait(false);
    });

    /// <summary>Starts the broker again after <see cref="StopAsync"/> or <see cref="KillAsync"/>.</summary>
    public Task StartAgainAsync() => OneAtATimeAsync(() =>
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("Mosquitto is already running.");
        }

        return StartProcessAsync(bindAttempts: 5, throwIfPortInUse: true);
    });

    /// <summary>Lifecycle changes never overlap: a restart must not race a stop.</summary>
    private Task OneAtATimeAsync(Func<Task> change) => _lifecycle.RunAsync(change);

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // No need to be graceful: the data directory is deleted right after.
        await _lifecycle.StopForDisposalAsync(() => StopProcessAsync(graceful: false)).ConfigureAwait(false);

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover temp directory is harmless; failing the test over it is not.
        }

        _lifecycle.Dispose();
    }

    public override string ToString() => $"mosquitto {Host}:{Port} ({DataDirectory})";

    private static string BuildConfig(int port, string dataDirectory, MosquittoSettings settings)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();

        // Listener first: listener-scoped options such as max_qos apply to the latest listener line.
        sb.Append(inv, $"listener {port} 127.0.0.1\n");
        if (settings.MaxQos is { } maxQos)
        {
            sb.Append(inv, $"max_qos {maxQos}\n");
        }

        sb.Append("allow_anonymous true\n");

        // Persistence is on so restart tests see the broker keep sessions, queued messages and
        // retained values. The trailing slash matters: Mosquitto concatenates location + file.
        sb.Append("persistence true\n");
        sb.Append(inv, $"persistence_location {dataDirectory}/\n");
        sb.Append("persistence_file mosquitto.db\n");
        sb.Append(inv, $"autosave_interval {settings.AutosaveInterval}\n");

        // Unlimited queue so the broker never silently drops messages for an offline persistent
        // subscriber: a test that counts deliveries must not be fooled by broker-side drops.
        sb.Append("max_queued_messages 0\n");

        // In Mosquitto 2.0.11 max_inflight_messages is also what MQTT 5 clients receive as the
        // CONNACK Receive Maximum, so ReceiveMaximum maps onto it.
        sb.Append(inv, $"max_inflight_messages {settings.ReceiveMaximum ?? settings.MaxInflightMessages}\n");

        if (settings.MaxPacketSize is { } maxPacketSize)
        {
            sb.Append(inv, $"max_packet_size {maxPacketSize}\n");
        }

        if (settings.RetainAvailable is { } retainAvailable)
        {
            sb.Append(inv, $"retain_available {(retainAvailable ? "true" : "false")}\n");
        }

        // Log everything (including per-packet "Received PUBLISH ... (d1, q1, r0, m7, ...)" lines)
        // so tests can assert on them. stderr, not stdout: Mosquitto 2.0.11 does not fflush stdout, which
        // is block-buffered when it is a pipe, so stdout lines arrive in 4 KiB bursts, at exit, or
        // never (SIGKILL); stderr is unbuffered and every line reaches us immediately.
        sb.Append(settings.LogEveryPacket ? "log_type all\n" : "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n");
        sb.Append("log_dest stderr\n");
        sb.Append("log_timestamp_format %Y-%m-%dT%H:%M:%S\n");

        // Started as root, Mosquitto would otherwise drop privileges to user "mosquitto" and then
        // be unable to write the persistence file into our root-owned temp directory.
        sb.Append("user root\n");

        // Keep persistent sessions around for the whole test (the default is forever, but state
        // it explicitly so a changed distro default cannot expire sessions mid-test).
        sb.Append("persistent_client_expiration 1d\n");

        foreach (var line in settings.ExtraConfig)
        {
            sb.Append(line).Append('\n');
        }

        return sb.ToString();
    }

    private async Task UsePortAsync(int port)
    {
        Port = port;
        await File.WriteAllTextAsync(_configPath, BuildConfig(port, DataDirectory, _settings)).ConfigureAwait(false);
    }

    /// <summary>
    /// Launches mosquitto and waits until it accepts connections. Returns false (process gone)
    /// when the port stayed in use for all <paramref name="bindAttempts"/> and
    /// <paramref name="throwIfPortInUse"/> is false; throws with the broker log on any other failure.
    /// </summary>
    private async Task<bool> StartProcessAsync(int bindAttempts, bool throwIfPortInUse)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // On restart the port must stay the same, and it can briefly still be in use (a process
        // that has not fully exited, someone else's short-lived socket). Mosquitto exits
        // immediately on a failed bind ("Error: Address already in use"), so retrying the whole
        // start after a short pause is simple and sufficient.
        for (var attempt = 1; ; attempt++)
        {
            var logCountBefore = _log.Count;
            var process = LaunchProcess();
            _process = process;

            var result = await WaitUntilAcceptingAsync(process, logCountBefore).ConfigureAwait(false);
            if (result == StartResult.Accepting)
            {
                return true;
            }

            var bindFailed = result == StartResult.Exited && _log.Skip(logCountBefore).Any(l =>
                l.Contains("Address already in use", StringComparison.OrdinalIgnoreCase));

            await TerminateAsync(process, graceful: false).ConfigureAwait(false);
            _process = null;

            if (bindFailed && attempt < bindAttempts)
            {
                await Task.Delay(200 * attempt).ConfigureAwait(false);
                continue;
            }

            if (bindFailed && !throwIfPortInUse)
            {
                return false;
            }

            throw new InvalidOperationException(
                $"Mosquitto did not start accepting connections on 127.0.0.1:{Port} " +
                $"({(result == StartResult.Exited ? "process exited" : "timed out")}, attempt {attempt}).\n" +
                "Log:\n" + string.Join('\n', LogLines));
        }
    }

    private Process LaunchProcess()
    {
        var psi = new ProcessStartInfo(MosquittoPath)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            CreateNoWindow = true,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(_configPath);

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };

        // The log goes to stderr (unbuffered, see BuildConfig); stdout is captured too so that
        // nothing a broker prints is lost, and both land in the one ordered log.
        DataReceivedEventHandler capture = (_, e) =>
        {
            if (e.Data is not null)
            {
                _log.Enqueue(e.Data);
            }
        };
        process.OutputDataReceived += capture;
        process.ErrorDataReceived += capture;

        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {MosquittoPath}.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<StartResult> WaitUntilAcceptingAsync(Process process, int logCountBefore)
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

            // A successful TCP connect alone is not proof: whoever still holds the port (a
            // previous incarnation, another test) would accept too. Mosquitto logs
            // "mosquitto version X running" only after all its listeners are bound, so require
            // that line from *this* process first, then that the port really accepts.
            if (_log.Skip(logCountBefore).Any(IsRunningLine)
                && await CanConnectAsync().ConfigureAwait(false)
                && !process.HasExited)
            {
                return StartResult.Accepting;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return StartResult.TimedOut;
    }

    private static bool IsRunningLine(string line) =>
        line.Contains("mosquitto version", StringComparison.Ordinal) && line.EndsWith(" running", StringComparison.Ordinal);

    private async Task<bool> CanConnectAsync()
    {
        using var client = new TcpClient(AddressFamily.InterNetwork);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task StopProcessAsync(bool graceful)
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        await TerminateAsync(process, graceful).ConfigureAwait(false);
    }

    private Task TerminateAsync(Process process, bool graceful) =>
        BrokerProcess.TerminateAsync(process, graceful, note => _log.Enqueue($"[MosquittoBroker] {note}"));

    private enum StartResult
    {
        Accepting,
        Exited,
        TimedOut,
    }
}
