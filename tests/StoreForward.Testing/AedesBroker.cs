using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A real aedes broker (Node.js, MQTT 3.1.1 only) running as a child process, private to one test, on its own loopback
/// port: <c>tests/aedes/broker.js</c>, installed by <c>npm ci</c> into <c>tests/aedes/node_modules</c> (tests/run.sh does
/// that). A third broker implementation next to Mosquitto and RabbitMQ, with the defaults of aedes: in-memory
/// persistence, so sessions, queued messages, retained values and the inbound QoS 2 state last only as long as the
/// process; a restart (graceful or not) starts from nothing. <see cref="BrokerHarness.StopAsync"/> is SIGTERM, then a
/// wait for the exit: aedes closes every client connection. <see cref="BrokerHarness.KillAsync"/> is SIGKILL. Its log
/// (<see cref="LogLines"/>) has one line per packet event, see broker.js.
/// </summary>
public sealed class AedesBroker : BrokerHarness
{
    /// <summary>What installs the broker when node_modules is missing (tests/run.sh runs it by itself).</summary>
    public const string InstallCommand = "npm ci --prefix tests/aedes --no-audit --no-fund --loglevel=error";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    // The log outlives each process: a test that restarts the broker can still assert on what the previous incarnation
    // logged (e.g. which messages it had accepted before it went down).
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _script;

    private Process? _process;

    private AedesBroker(string script) => _script = script;

    /// <summary>Fixed for the broker's lifetime: restarts reuse it so clients can reconnect to the same endpoint.</summary>
    public int Port { get; private set; }

    /// <summary>True while the current node process is alive.</summary>
    public override bool IsRunning => BrokerProcess.IsAlive(_process);

    /// <summary>Snapshot of everything every incarnation of the broker printed (stdout and stderr), in order.</summary>
    public IReadOnlyList<string> LogLines => _log.ToArray();

    /// <summary>
    /// Every PUBLISH packet that <paramref name="clientId"/> sent, DUP resends included, over all incarnations: what
    /// reached the broker.
    /// </summary>
    public IReadOnlyList<AedesPublish> PublishesFrom(string clientId) =>
        [.. LogLines.Select(AedesPublish.ParseReceived).OfType<AedesPublish>().Where(p => p.ClientId == clientId)];

    /// <summary>
    /// The messages from <paramref name="clientId"/> that aedes accepted and routed to subscribers, over all
    /// incarnations: once per accepted message (a QoS 2 resend of an id still awaiting PUBREL is not routed again).
    /// </summary>
    public IReadOnlyList<AedesPublish> RoutedFrom(string clientId) =>
        [.. LogLines.Select(AedesPublish.ParseRouted).OfType<AedesPublish>().Where(p => p.ClientId == clientId)];

    /// <summary>The Session Present flag of every CONNACK aedes sent to <paramref name="clientId"/>, in order.</summary>
    public IReadOnlyList<bool> SessionPresentFlags(string clientId) =>
    [
        .. LogLines
            .Select(l => l.Split(' '))
            .Where(f => f.Length == 4 && f[0] == "connack" && f[2] == "0" && Uri.UnescapeDataString(f[1]) == clientId)
            .Select(f => f[3] == "1"),
    ];

    public IEnumerable<string> LogLinesContaining(string text) =>
        LogLines.Where(line => line.Contains(text, StringComparison.Ordinal));

    /// <summary>
    /// Starts aedes on a free loopback port and returns once it accepts connections. Throws when Node.js or the npm
    /// packages (<see cref="InstallCommand"/>) are missing.
    /// </summary>
    public static async Task<AedesBroker> StartAsync()
    {
        var broker = new AedesBroker(FindScript());
        return await StartOnFreePortsAsync(broker, prepare: null, () =>
        {
            broker.Port = LoopbackPort.Unused();
            return Task.CompletedTask;
        }).ConfigureAwait(false);
    }

    public override string ToString() => $"aedes {Host}:{Port}";

    protected override string BrokerName => "aedes";

    /// <summary>
    /// Launches node and waits for its <c>listening PORT</c> line. Returns false (process gone) when the port stayed in
    /// use for all <paramref name="bindAttempts"/> and <paramref name="throwIfPortInUse"/> is false; throws with the
    /// broker log on any other failure.
    /// </summary>
    protected override async Task<bool> StartProcessAsync(int bindAttempts, bool throwIfPortInUse)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);

        // On restart the port must stay the same, and it can briefly still be in use (someone else's short-lived
        // socket). broker.js exits at once on a failed bind ("error EADDRINUSE ..."), so retrying after a pause is enough.
        for (var attempt = 1; ; attempt++)
        {
            var logCountBefore = _log.Count;
            var process = LaunchProcess();
            _process = process;

            var result = await WaitUntilListeningAsync(process, logCountBefore).ConfigureAwait(false);
            if (result == StartResult.Listening)
                return true;

            var bindFailed = result == StartResult.Exited &&
                _log.Skip(logCountBefore).Any(l => l.StartsWith("error EADDRINUSE", StringComparison.Ordinal));

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
                $"aedes did not start listening on 127.0.0.1:{Port} " +
                $"({(result == StartResult.Exited ? "process exited" : "timed out")}, attempt {attempt}).\n" +
                "Log:\n" + string.Join('\n', LogLines));
        }
    }

    protected override async Task StopProcessAsync(bool graceful)
    {
        var process = _process;
        _process = null;
        if (process is null)
            return;
        await TerminateAsync(process, graceful).ConfigureAwait(false);
    }

    /// <summary>tests/aedes/broker.js of the checkout the tests run from.</summary>
    private static string FindScript()
    {
        var aedesFolder = Path.Combine(Checkout.Root, "tests", "aedes");
        var script = Path.Combine(aedesFolder, "broker.js");
        if (!File.Exists(script))
            throw new InvalidOperationException($"{script} is missing.");
        if (!File.Exists(Path.Combine(aedesFolder, "node_modules", "aedes", "package.json")))
        {
            throw new InvalidOperationException(
                $"The aedes broker is not installed: {Path.Combine(aedesFolder, "node_modules")} is missing. " +
                $"Run `{InstallCommand}` in {Checkout.Root} (tests/run.sh does so by itself).");
        }

        return script;
    }

    private Process LaunchProcess()
    {
        var psi = new ProcessStartInfo("node")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            CreateNoWindow = true,
            WorkingDirectory = Path.GetDirectoryName(_script)!,
        };
        psi.ArgumentList.Add(_script);
        psi.ArgumentList.Add(Port.ToString(CultureInfo.InvariantCulture));

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };

        // The event log is stdout; stderr (a crash's stack trace) lands in the same ordered log.
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
                throw new InvalidOperationException("Could not start node.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException("Could not start node (Node.js 20 or later must be on PATH; tests/run.sh installs it).", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<StartResult> WaitUntilListeningAsync(Process process, int logCountBefore)
    {
        // broker.js prints the line from the listen callback, so the socket is bound by then; only a line from *this*
        // process counts (the log holds the earlier incarnations' lines too).
        var ready = $"listening {Port.ToString(CultureInfo.InvariantCulture)}";
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            if (_log.Skip(logCountBefore).Any(l => l == ready))
                return StartResult.Listening;

            if (process.HasExited)
            {
                // WaitForExitAsync also waits for the async readers to drain the final lines (e.g. the bind error).
                await process.WaitForExitAsync().ConfigureAwait(false);
                return StartResult.Exited;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return StartResult.TimedOut;
    }

    private Task TerminateAsync(Process process, bool graceful) =>
        BrokerProcess.TerminateAsync(process, graceful, note => _log.Enqueue($"[AedesBroker] {note}"));

    private enum StartResult
    {
        Listening,
        Exited,
        TimedOut,
    }
}
