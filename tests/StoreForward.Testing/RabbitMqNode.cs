using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A RabbitMQ 3.10 node with its MQTT plugin, private to a test class: its own temp directory (config, Mnesia data,
/// logs, and a HOME holding the Erlang cookie), its own node name (random suffix) and three loopback ports (MQTT,
/// AMQP, Erlang distribution), so that several can run side by side without touching the system's node.
/// </summary>
/// <remarks>
/// <para>
/// <c>rabbitmq-server</c> is a shell script that runs the Erlang VM (beam.smp) in the background and waits for it;
/// the VM survives a killed script. So this class stops the node with <c>rabbitmqctl stop</c>, crashes it by
/// SIGKILL to the VM itself (<see cref="ErlangVm"/>), and on dispose kills whatever VM runs with the node's HOME.
/// <see cref="BrokerHarness.StopAsync"/> falls back to SIGKILL (noted in <see cref="ConsoleLines"/>) if the node does
/// not go within the stop timeout; it and <see cref="BrokerHarness.KillAsync"/> return once the VM is gone and the MQTT
/// port is closed. Restarts reuse the ports, directory and name.
/// </para>
/// <para>
/// A first start takes about 10-15 s: the MQTT plugin waits 3-6 s (random) for cluster peers before it forms its
/// client-id tracking Raft cluster alone. Starts after that (same data) take about 6 s. Hence the class fixtures.
/// </para>
/// <para>
/// The plugin speaks MQTT 3.1/3.1.1 only, QoS 0 and 1: it downgrades a QoS 2 PUBLISH and answers it with PUBACK.
/// Retained messages are kept per node, not replicated in a cluster.
/// </para>
/// </remarks>
public sealed class RabbitMqNode : BrokerHarness
{
    /// <summary>Debian's rabbitmq-server package installs the server script here (not on a normal user's PATH).</summary>
    public const string ServerPath = "/usr/lib/rabbitmq/bin/rabbitmq-server";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CtlTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ScriptExitTimeout = TimeSpan.FromSeconds(10);
    private const int LogTailLines = 60;

    /// <summary>
    /// Erlang run on a restarting cluster member (see <see cref="UnblockMqttNodeAsync"/>): waits (60 s at most) until
    /// either the node has booted (nothing to do) or the MQTT plugin's start hangs in <c>mqtt_node:join_peers</c>, and
    /// then starts the node's own member of the plugin's Raft cluster so that an election can happen.
    /// </summary>
    private const string UnblockMqttNodeExpression = """
        Stuck = fun() ->
            lists:any(fun(P) ->
                case erlang:process_info(P, current_stacktrace) of
                    {current_stacktrace, S} -> lists:keymember(join_peers, 2, [{M, F} || {M, F, _, _} <- S, M =:= mqtt_node]);
                    _ -> false
                end
            end, erlang:processes())
        end,
        Loop = fun L(0) -> timeout;
                   L(N) -> case Stuck() of
                               true -> {restarted, ra:restart_server(coordination, {mqtt_node, node()})};
                               false -> case rabbit:is_booted() of
                                            true -> booted;
                                            false -> timer:sleep(250), L(N - 1)
                                        end
                           end
               end,
        Loop(240).
        """;

    /// <summary>Nodes not yet disposed: if the test host exits without disposing them, their VMs are killed anyway.</summary>
    private static readonly ConcurrentDictionary<RabbitMqNode, byte> Live = new();

    // Console output of every incarnation of the server script, in order (boot failures land here, before the
    // node's log file is set up); the node's own log is the file under log/.
    private readonly ConcurrentQueue<string> _console = new();
    private Process? _script;

    static RabbitMqNode()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var node in Live.Keys)
            {
                ErlangVm.KillServers(node.HomeDirectory);
                ErlangVm.WaitUntilGoneAsync(node.HomeDirectory, TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();

                // Best effort: the VM may still be going down.
                DeleteDirectory(node.DataDirectory);
            }
        };
    }

    private RabbitMqNode(string dataDirectory, string nodeName, string erlangCookie)
    {
        DataDirectory = dataDirectory;
        NodeName = nodeName;
        ErlangCookie = erlangCookie;
    }

    /// <summary>MQTT listener; fixed for the node's lifetime, so clients reconnect to the same endpoint after a restart.</summary>
    public int MqttPort { get; private set; }

    /// <summary>AMQP 0-9-1 listener (nothing in the tests uses it, but the node always has one).</summary>
    public int AmqpPort { get; private set; }

    /// <summary>Erlang distribution listener (inter-node and CLI traffic).</summary>
    public int DistributionPort { get; private set; }

    /// <summary>Erlang node name, <c>name@localhost</c>, unique per node (random suffix).</summary>
    public string NodeName { get; }

    /// <summary>Shared by the nodes of a cluster; the CLI needs it too (it reads it from <see cref="HomeDirectory"/>).</summary>
    public string ErlangCookie { get; }

    /// <summary>Temp directory holding everything of this node; deleted on dispose.</summary>
    public string DataDirectory { get; }

    /// <summary>HOME of the node and of its rabbitmqctl calls: where <c>.erlang.cookie</c> lives.</summary>
    public string HomeDirectory => Path.Combine(DataDirectory, "home");

    /// <summary>The node's own log (appended to by every incarnation).</summary>
    public string LogFile => Path.Combine(DataDirectory, "log", NodeName + ".log");

    /// <summary>
    /// Set by <see cref="RabbitMqCluster"/> once the node has joined: a restart of a cluster member needs help (see
    /// <see cref="UnblockMqttNodeAsync"/>).
    /// </summary>
    internal bool IsClusterMember { get; set; }

    /// <summary>True while the node's Erlang VM is alive (which is not the same as accepting MQTT connections).</summary>
    public override bool IsRunning => ErlangVm.FindServerPids(HomeDirectory).Count > 0;

    /// <summary>OS process id of the node's Erlang VM (beam.smp), or null when it is not running.</summary>
    public int? VmProcessId => ErlangVm.FindServerPids(HomeDirectory) is [var pid, ..] ? pid : null;

    /// <summary>What the server script and the VM printed on stdout/stderr, all incarnations, in order.</summary>
    public IReadOnlyList<string> ConsoleLines => _console.ToArray();

    /// <summary>Snapshot of the node's log file (all incarnations), empty before the node has logged anything.</summary>
    public IReadOnlyList<string> LogLines
    {
        get
        {
            try
            {
                using var stream = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream);
                var lines = new List<string>();
                while (reader.ReadLine() is { } line)
                {
                    lines.Add(line);
                }

                return lines;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return [];
            }
        }
    }

    /// <summary>
    /// Starts a node on free loopback ports and returns once it answers an MQTT 3.1.1 CONNECT with CONNACK.
    /// Nodes that are to form a cluster must share <paramref name="erlangCookie"/>; <paramref name="namePrefix"/>
    /// (letters, digits, '-', '_') starts the node name, a random suffix ends it.
    /// </summary>
    public static async Task<RabbitMqNode> StartAsync(string? erlangCookie = null, string namePrefix = "sf-rmq")
    {
        ArgumentException.ThrowIfNullOrEmpty(namePrefix);
        erlangCookie ??= NewErlangCookie();

        var suffix = Guid.NewGuid().ToString("N")[..10];
        var dataDirectory = Path.Combine(Path.GetTempPath(), $"sf-rmq-{suffix}");
        var node = new RabbitMqNode(dataDirectory, $"{namePrefix}-{suffix}@localhost", erlangCookie);
        Live.TryAdd(node, 0);
        return await StartOnFreePortsAsync(
            node,
            () => RabbitMqNodeSetup.PrepareDirectoryAsync(node),
            () => node.UsePortsAsync(LoopbackPort.Unused(), LoopbackPort.Unused(), LoopbackPort.Unused())).ConfigureAwait(false);
    }

    /// <summary>A random cookie (20 upper-case letters, like the ones Erlang generates itself).</summary>
    public static string NewErlangCookie() =>
        string.Create(20, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('A' + System.Security.Cryptography.RandomNumberGenerator.GetInt32(26));
            }
        });

    /// <summary>
    /// Runs <c>rabbitmqctl -n NodeName ARGS</c> and returns what it printed; throws with the output and the node's
    /// log tail when it exits non-zero or takes longer than a minute.
    /// </summary>
    public async Task<string> CtlAsync(params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var (exitCode, output) = await RabbitMqCtl.RunAsync(RabbitMqNodeSetup.Environment(this), CtlTimeout, ["-n", NodeName, .. arguments]).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new InvalidOperationException(
                $"rabbitmqctl -n {NodeName} {string.Join(' ', arguments)} exited with {exitCode}:\n{output}\n{LogTail()}");
        }

        return output;
    }

    /// <summary>The last lines of the console output and of the log file, for failure messages.</summary>
    public string LogTail(int lines = LogTailLines)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"--- {NodeName} console output (last {lines} lines) ---\n");
        foreach (var line in _console.TakeLast(lines))
        {
            sb.Append(line).Append('\n');
        }

        sb.Append(CultureInfo.InvariantCulture, $"--- {LogFile} (last {lines} lines) ---\n");
        foreach (var line in LogLines.TakeLast(lines))
        {
            sb.Append(line).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Waits until the node answers an MQTT CONNECT (e.g. after <c>rabbitmqctl start_app</c>); throws with the log tail on timeout.</summary>
    public async Task WaitUntilMqttReadyAsync()
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < StartTimeout)
        {
            if (await MqttAnswersAsync().ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(200).ConfigureAwait(false);
        }

        throw new TimeoutException($"{NodeName} did not answer an MQTT CONNECT on {Host}:{MqttPort} within {StartTimeout.TotalSeconds:0} s.\n{LogTail()}");
    }

    public override string ToString() => $"rabbitmq {NodeName} mqtt {Host}:{MqttPort} ({DataDirectory})";

    protected override string BrokerName => NodeName;

    /// <summary>Each attempt costs a boot (several seconds), so a port still in use earns only one more.</summary>
    protected override int BindAttempts => 2;

    /// <summary>Lifecycle changes never overlap (a restart must not race a stop), and none starts once disposal has begun.</summary>
    protected override Task OneAtATimeAsync(Func<Task> change)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return base.OneAtATimeAsync(change);
    }

    /// <summary>
    /// Launches the server script and waits until the node answers an MQTT CONNECT. Returns false (nothing left
    /// running) when a port stayed in use for all <paramref name="bindAttempts"/> and <paramref name="throwIfPortInUse"/>
    /// is false; throws with the log tail on any other failure.
    /// </summary>
    protected override async Task<bool> StartProcessAsync(int bindAttempts, bool throwIfPortInUse)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);

        for (var attempt = 1; ; attempt++)
        {
            var consoleBefore = _console.Count;
            var logBefore = LogLines.Count;
            _script = LaunchScript();

            StartResult result;
            using (var unblocking = new CancellationTokenSource())
            {
                var unblocker = IsClusterMember ? UnblockMqttNodeAsync(unblocking.Token) : Task.CompletedTask;
                try
                {
                    result = await WaitUntilReadyAsync(_script).ConfigureAwait(false);
                }
                finally
                {
                    await unblocking.CancelAsync().ConfigureAwait(false);
                    await unblocker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }

            if (result == StartResult.Ready)
            {
                return true;
            }

            // A port in use ends the boot and halts the VM: MQTT and AMQP listeners fail with eaddrinuse, the
            // distribution listener is checked before with dist_port_already_used.
            var bindFailed = result == StartResult.Exited
                && _console.Skip(consoleBefore).Concat(LogLines.Skip(logBefore))
                    .Any(l => l.Contains("eaddrinuse", StringComparison.Ordinal) || l.Contains("dist_port_already_used", StringComparison.Ordinal));

            var tail = LogTail();

            // Not waiting for the port: after a bind failure it is someone else's.
            await StopNodeAsync(graceful: false, waitForPortClosed: false).ConfigureAwait(false);

            if (bindFailed && attempt < bindAttempts)
            {
                await Task.Delay(500 * attempt).ConfigureAwait(false);
                continue;
            }

            if (bindFailed && !throwIfPortInUse)
            {
                return false;
            }

            throw new InvalidOperationException(
                $"RabbitMQ node {NodeName} did not answer an MQTT 3.1.1 CONNECT on {Host}:{MqttPort} " +
                $"({(result == StartResult.Exited ? "server script exited" : $"timed out after {StartTimeout.TotalSeconds:0} s")}, " +
                $"attempt {attempt}).\n{tail}");
        }
    }

    /// <summary>Stops the node and waits until its MQTT port is closed, so that a start on the same port can follow.</summary>
    protected override Task StopProcessAsync(bool graceful) => StopNodeAsync(graceful, waitForPortClosed: true);

    /// <summary>
    /// Kills by HOME, not only the VM we know of, so that a VM left by a failed or timed-out start goes too; nothing
    /// starts on the MQTT port again, so there is no waiting for it to close.
    /// </summary>
    protected override Task StopForDisposalAsync() => StopNodeAsync(graceful: false, waitForPortClosed: false);

    /// <summary>The node leaves <see cref="Live"/> (nothing is left for the exit handler to kill), then its directory goes.</summary>
    protected override void CleanUpAfterStop()
    {
        Live.TryRemove(this, out _);
        DeleteDirectory(DataDirectory);
    }

    private async Task UsePortsAsync(int mqttPort, int amqpPort, int distributionPort)
    {
        MqttPort = mqttPort;
        AmqpPort = amqpPort;
        DistributionPort = distributionPort;
        await RabbitMqNodeSetup.WriteConfigAsync(this).ConfigureAwait(false);
    }

    /// <summary>
    /// Works around a hang of RabbitMQ 3.10's MQTT plugin on a restarting cluster member. The plugin's client-id
    /// registry is a Raft cluster over all nodes; with two nodes and one of them down, the survivor's member has no
    /// quorum and so no leader. On restart the plugin first asks the peers for the members (<c>ra:members</c>, 100 s
    /// timeout) and only then starts its own member, whose vote the survivor needs to elect a leader: the node only
    /// serves MQTT after that 100 s timeout. Starting the member early (what the plugin does next anyway) lets the
    /// election happen at once. Runs in the background of a start; returns once done or cancelled.
    /// </summary>
    private async Task UnblockMqttNodeAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var (exitCode, output) = await RabbitMqCtl.RunAsync(
                    RabbitMqNodeSetup.Environment(this), TimeSpan.FromSeconds(75), cancellationToken, "-n", NodeName, "eval", UnblockMqttNodeExpression).ConfigureAwait(false);
                if (exitCode == 0)
                {
                    _console.Enqueue($"[RabbitMqNode] mqtt_node start check: {output.Split('\n').LastOrDefault()}");
                    return;
                }
            }
            catch (TimeoutException ex)
            {
                _console.Enqueue($"[RabbitMqNode] mqtt_node start check timed out: {ex.Message}");
            }

            // Not reachable yet (the VM registers with epmd a second or two after launch): try again.
            await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        }
    }

    private Process LaunchScript()
    {
        var psi = new ProcessStartInfo(ServerPath)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            CreateNoWindow = true,
            WorkingDirectory = DataDirectory,
        };
        RabbitMqNodeSetup.ApplyEnvironment(psi, RabbitMqNodeSetup.Environment(this));

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        DataReceivedEventHandler capture = (_, e) =>
        {
            if (e.Data is not null)
            {
                _console.Enqueue(e.Data);
            }
        };
        process.OutputDataReceived += capture;
        process.ErrorDataReceived += capture;

        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {ServerPath}.");
        }

        // The VM runs with -noinput; an open stdin of ours would only tie it to the test host's console.
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<StartResult> WaitUntilReadyAsync(Process script)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < StartTimeout)
        {
            // The script waits for the VM, so its exit means the VM is gone (boot failure, bind failure, halt).
            if (script.HasExited)
            {
                await WaitForScriptExitAsync(script).ConfigureAwait(false);
                return StartResult.Exited;
            }

            // TCP alone is no proof: the MQTT listener accepts connections before the plugin can serve them.
            if (await MqttAnswersAsync().ConfigureAwait(false) && IsRunning)
            {
                return StartResult.Ready;
            }

            await Task.Delay(200).ConfigureAwait(false);
        }

        return StartResult.TimedOut;
    }

    /// <summary>One MQTT 3.1.1 CONNECT (clean session, throw-away client id); true on CONNACK "accepted".</summary>
    private async Task<bool> MqttAnswersAsync()
    {
        using var cts = new CancellationTokenSource(ProbeTimeout);
        using var client = new TcpClient(AddressFamily.InterNetwork);
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, MqttPort, cts.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(RawMqtt.Connect311("sf-probe-" + Guid.NewGuid().ToString("N")[..12], cleanSession: true), cts.Token).ConfigureAwait(false);
            var connack = new byte[4];
            await stream.ReadExactlyAsync(connack, cts.Token).ConfigureAwait(false);
            if (connack is not [0x20, 0x02, _, 0x00])
            {
                return false;
            }

            await stream.WriteAsync(RawMqtt.Disconnect(), cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<bool> PortIsClosedAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        using var client = new TcpClient(AddressFamily.InterNetwork);
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, MqttPort, cts.Token).ConfigureAwait(false);
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Stops the node (graceful: rabbitmqctl stop; otherwise SIGKILL to the VM), then waits until no VM of this node
    /// is alive, the server script has exited and, if <paramref name="waitForPortClosed"/>, the MQTT port is closed.
    /// </summary>
    private async Task StopNodeAsync(bool graceful, bool waitForPortClosed)
    {
        var script = _script;
        _script = null;

        if (graceful && IsRunning)
        {
            try
            {
                await CtlAsync("stop").ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                _console.Enqueue($"[RabbitMqNode] rabbitmqctl stop failed, killing the VM: {ex.Message}");
            }

            if (!await ErlangVm.WaitUntilGoneAsync(HomeDirectory, StopTimeout).ConfigureAwait(false))
            {
                _console.Enqueue($"[RabbitMqNode] graceful stop did not end the VM within {StopTimeout.TotalSeconds:0} s, sending SIGKILL");
            }
        }

        ErlangVm.KillServers(HomeDirectory);
        if (!await ErlangVm.WaitUntilGoneAsync(HomeDirectory, StopTimeout).ConfigureAwait(false))
        {
            throw new TimeoutException($"The Erlang VM of {NodeName} is still alive {StopTimeout.TotalSeconds:0} s after SIGKILL.\n{LogTail()}");
        }

        if (script is not null)
        {
            await WaitForScriptExitAsync(script).ConfigureAwait(false);
            script.Dispose();
        }

        var started = Stopwatch.GetTimestamp();
        while (waitForPortClosed && !await PortIsClosedAsync().ConfigureAwait(false))
        {
            if (Stopwatch.GetElapsedTime(started) >= StopTimeout)
            {
                throw new TimeoutException($"{Host}:{MqttPort} still accepts connections after {NodeName} stopped.\n{LogTail()}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>Waits (bounded) for the script to exit, which also drains its last console lines.</summary>
    private async Task WaitForScriptExitAsync(Process script)
    {
        using var cts = new CancellationTokenSource(ScriptExitTimeout);
        try
        {
            await script.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _console.Enqueue("[RabbitMqNode] server script did not exit after its VM, killing it");
            try
            {
                script.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
    }

    private enum StartResult
    {
        Ready,
        Exited,
        TimedOut,
    }
}
