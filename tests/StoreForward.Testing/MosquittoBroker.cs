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
/// <see cref="BrokerHarness.StopAsync"/> is SIGTERM, then a wait for the exit: Mosquitto writes its persistence file
/// while shutting down on SIGTERM, so everything acknowledged before the stop survives a restart.
/// <see cref="BrokerHarness.KillAsync"/> is SIGKILL: nothing is flushed, so only what the last autosave wrote survives
/// (see <see cref="MosquittoSettings.AutosaveInterval"/>). Restarts reuse the port, directory and config.
/// </summary>
public sealed class MosquittoBroker : BrokerHarness
{
    /// <summary>Debian's mosquitto package installs the daemon here (it is not on a normal user's PATH).</summary>
    private const string MosquittoPath = "/usr/sbin/mosquitto";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);

    // The log outlives each process: a test that restarts the broker can still assert on what
    // the previous incarnation logged (e.g. that a resent PUBLISH arrived with d1).
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _configPath;
    private readonly MosquittoSettings _settings;

    private Process? _process;

    private MosquittoBroker(string dataDirectory, MosquittoSettings settings)
    {
        DataDirectory = dataDirectory;
        _configPath = Path.Combine(dataDirectory, "mosquitto.conf");
        _settings = settings;
    }

    /// <summary>Fixed for the broker's lifetime: restarts reuse it so clients can reconnect to the same endpoint.</summary>
    public int Port { get; private set; }

    /// <summary>Temp directory holding mosquitto.conf and the persistence file mosquitto.db.</summary>
    public string DataDirectory { get; }

    /// <summary>Path of the persistence file Mosquitto writes on autosave and on graceful stop.</summary>
    public string PersistenceFile => Path.Combine(DataDirectory, "mosquitto.db");

    /// <summary>True while the current mosquitto process is alive.</summary>
    public override bool IsRunning => BrokerProcess.IsAlive(_process);

    /// <summary>Snapshot of everything every incarnation of the broker printed, in order.</summary>
    public IReadOnlyList<string> LogLines => _log.ToArray();

    public static async Task<MosquittoBroker> StartAsync(MosquittoSettings? settings = null)
    {
        settings ??= new MosquittoSettings();

        var dataDirectory = Path.Combine(Path.GetTempPath(), "sf-mosq-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);

        var broker = new MosquittoBroker(dataDirectory, settings);
        return await StartOnFreePortsAsync(broker, prepare: null, () => broker.UsePortAsync(LoopbackPort.Unused())).ConfigureAwait(false);
    }

    public IEnumerable<string> LogLinesContaining(string text) =>
        LogLines.Where(line => line.Contains(text, StringComparison.Ordinal));

    public override string ToString() => $"mosquitto {Host}:{Port} ({DataDirectory})";

    protected override string BrokerName => "Mosquitto";

    /// <summary>
    /// Launches mosquitto and waits until it accepts connections. Returns false (process gone)
    /// when the port stayed in use for all <paramref name="bindAttempts"/> and
    /// <paramref name="throwIfPortInUse"/> is false; throws with the broker log on any other failure.
    /// </summary>
    protected override async Task<bool> StartProcessAsync(int bindAttempts, bool throwIfPortInUse)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);

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

    protected override async Task StopProcessAsync(bool graceful)
    {
        var process = _process;
        _process = null;
        if (process is null)
        {
            return;
        }

        await TerminateAsync(process, graceful).ConfigureAwait(false);
    }

    /// <summary>The data directory goes with the broker: the persistence file is of no use to anyone else.</summary>
    protected override void CleanUpAfterStop() => DeleteDirectory(DataDirectory);

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

    private Task TerminateAsync(Process process, bool graceful) =>
        BrokerProcess.TerminateAsync(process, graceful, note => _log.Enqueue($"[MosquittoBroker] {note}"));

    private enum StartResult
    {
        Accepting,
        Exited,
        TimedOut,
    }
}
