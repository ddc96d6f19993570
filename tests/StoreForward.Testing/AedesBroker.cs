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
public sealed class AedesBroker : ChildProcessBroker
{
    /// <summary>What installs the broker when node_modules is missing (tests/run.sh runs it by itself).</summary>
    public const string InstallCommand = "npm ci --prefix tests/aedes --no-audit --no-fund --loglevel=error";

    private readonly string _script;

    private AedesBroker(string script) => _script = script;

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

    protected override TimeSpan StartTimeout => TimeSpan.FromSeconds(15);

    protected override string MissingProgramHint => " Node.js 20 or later must be on PATH; tests/run.sh installs it.";

    /// <summary>broker.js exits at once on a failed bind ("error EADDRINUSE ...").</summary>
    protected override bool IsBindFailure(string line) => line.StartsWith("error EADDRINUSE", StringComparison.Ordinal);

    /// <summary>broker.js prints <c>listening PORT</c> from the listen callback, so the socket is bound by then.</summary>
    protected override Task<bool> IsReadyAsync(IEnumerable<string> linesOfThisIncarnation) =>
        Task.FromResult(linesOfThisIncarnation.Contains($"listening {Port.ToString(CultureInfo.InvariantCulture)}"));

    /// <summary>The event log is stdout; stderr (a crash's stack trace) lands in the same ordered log.</summary>
    protected override ProcessStartInfo CreateStartInfo()
    {
        var psi = new ProcessStartInfo("node") { WorkingDirectory = Path.GetDirectoryName(_script)! };
        psi.ArgumentList.Add(_script);
        psi.ArgumentList.Add(Port.ToString(CultureInfo.InvariantCulture));
        return psi;
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
}
