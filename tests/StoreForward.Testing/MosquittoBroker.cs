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
public sealed class MosquittoBroker : ChildProcessBroker
{
    /// <summary>Debian's mosquitto package installs the daemon here (it is not on a normal user's PATH).</summary>
    private const string MosquittoPath = "/usr/sbin/mosquitto";

    private readonly string _configPath;
    private readonly MosquittoSettings _settings;

    private MosquittoBroker(string dataDirectory, MosquittoSettings settings)
    {
        DataDirectory = dataDirectory;
        _configPath = Path.Combine(dataDirectory, "mosquitto.conf");
        _settings = settings;
    }

    /// <summary>Temp directory holding mosquitto.conf and the persistence file mosquitto.db.</summary>
    public string DataDirectory { get; }

    /// <summary>Path of the persistence file Mosquitto writes on autosave and on graceful stop.</summary>
    public string PersistenceFile => Path.Combine(DataDirectory, "mosquitto.db");

    public static async Task<MosquittoBroker> StartAsync(MosquittoSettings? settings = null)
    {
        settings ??= new MosquittoSettings();

        var dataDirectory = Path.Combine(Path.GetTempPath(), "sf-mosq-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);

        var broker = new MosquittoBroker(dataDirectory, settings);
        return await StartOnFreePortsAsync(broker, prepare: null, () => broker.UsePortAsync(LoopbackPort.Unused())).ConfigureAwait(false);
    }

    public override string ToString() => $"mosquitto {Host}:{Port} ({DataDirectory})";

    protected override string BrokerName => "Mosquitto";

    protected override TimeSpan StartTimeout => TimeSpan.FromSeconds(10);

    protected override bool IsBindFailure(string line) => line.Contains("Address already in use", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A successful TCP connect alone is not proof: whoever still holds the port (a previous incarnation, another test)
    /// would accept too. Mosquitto logs "mosquitto version X running" only after all its listeners are bound, so require
    /// that line from this incarnation first, then that the port really accepts.
    /// </summary>
    protected override async Task<bool> IsReadyAsync(IEnumerable<string> linesOfThisIncarnation) =>
        linesOfThisIncarnation.Any(IsRunningLine) && await CanConnectAsync().ConfigureAwait(false);

    /// <summary>The log goes to stderr (unbuffered, see BuildConfig); stdout is captured too.</summary>
    protected override ProcessStartInfo CreateStartInfo()
    {
        var psi = new ProcessStartInfo(MosquittoPath);
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(_configPath);
        return psi;
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
}
