using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// A persistent-session subscriber that is a correct QoS 2 receiver: Mosquitto's own <c>mosquitto_sub</c>. libmosquitto
/// hands a QoS 2 message to the application only on PUBREL and keeps that state across its reconnects, so a broker
/// restart does not turn into a duplicate on the subscriber's side. MQTTnet's client delivers on PUBLISH and keeps no
/// inbound QoS 2 state, so after a broker restart it reports the broker's DUP resend as a second delivery: it cannot
/// judge exactly-once.
/// </summary>
public sealed class MosquittoSubscriber : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly List<ReceivedMessage> _messages = [];
    private readonly StringBuilder _errors = new();
    private long _lastActivity = Stopwatch.GetTimestamp();
    private readonly string _host;
    private readonly int _port;
    private readonly string _probeTopic;

    private MosquittoSubscriber(Process process, string host, int port, string probeTopic)
    {
        _process = process;
        _host = host;
        _port = port;
        _probeTopic = probeTopic;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_lock)
                    _errors.AppendLine(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyList<ReceivedMessage> Messages
    {
        get
        {
            lock (_lock)
                return _messages.ToArray();
        }
    }

    public string Errors
    {
        get
        {
            lock (_lock)
                return _errors.ToString();
        }
    }

    /// <summary>
    /// Starts <c>mosquitto_sub</c> (MQTT 3.1.1 by default: Mosquitto then caps its deliveries at max_inflight_messages,
    /// while an MQTT 5 mosquitto_sub announces no Receive Maximum yet fails when more than 20 QoS 2 messages await PUBREL)
    /// with a persistent session (<c>-c</c>) and waits until its subscription is in place, by
    /// publishing probes on <c>&lt;filter root&gt;/ready</c> until one arrives.
    /// </summary>
    public static async Task<MosquittoSubscriber> StartAsync(
        string host, int port, string topicFilter, string clientId, MqttProtocolVersion version = MqttProtocolVersion.V311)
    {
        var start = new ProcessStartInfo("stdbuf")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "-oL", "mosquitto_sub", "-h", host, "-p", port.ToString(CultureInfo.InvariantCulture), "-t", topicFilter,
            "-q", "2", "-c", "-i", clientId, "-k", "10",
            "-V", version == MqttProtocolVersion.V500 ? "mqttv5" : "mqttv311",
            "-F", "%r %q %t %p",
        })
            start.ArgumentList.Add(arg);

        var probeTopic = topicFilter.TrimEnd('#').TrimEnd('/') + "/ready";
        var subscriber = new MosquittoSubscriber(Process.Start(start) ?? throw new InvalidOperationException("mosquitto_sub did not start"), host, port, probeTopic);
        try
        {
            await subscriber.WaitUntilReceivingAsync();
            return subscriber;
        }
        catch
        {
            await subscriber.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Waits until the subscriber receives (again, after a broker restart it reconnects by itself), by publishing probes
    /// on <c>&lt;filter root&gt;/ready</c> until a new one arrives. QoS 0 messages sent while it is away are lost to it.
    /// </summary>
    public async Task WaitUntilReceivingAsync()
    {
        var before = Messages.Count(m => m.Topic == _probeTopic);
        for (var i = 0; i < 100; i++)
        {
            await PublishProbeAsync(_host, _port, _probeTopic);
            await Task.Delay(100);
            if (Messages.Count(m => m.Topic == _probeTopic) > before)
                return;
        }

        throw new InvalidOperationException($"mosquitto_sub never received its probe: {Errors}");
    }

    private static async Task PublishProbeAsync(string host, int port, string topic)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId("probe-" + Guid.NewGuid().ToString("N")[..8]).Build());
        await client.PublishStringAsync(topic, "probe", MqttQualityOfServiceLevel.AtLeastOnce);
        await client.DisconnectAsync();
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        var parts = line.Split(' ', 4);
        if (parts.Length < 3)
            return;
        var message = new ReceivedMessage(
            parts[2],
            Encoding.UTF8.GetBytes(parts.Length == 4 ? parts[3] : ""),
            (MqttQualityOfServiceLevel)int.Parse(parts[1], CultureInfo.InvariantCulture),
            parts[0] == "1",
            Dup: false,
            DateTimeOffset.UtcNow);
        lock (_lock)
            _messages.Add(message);
        Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());
    }

    public async Task<bool> WaitForCountAsync(Func<ReceivedMessage, bool> which, int count, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (Messages.Count(which) < count)
        {
            if (Stopwatch.GetElapsedTime(started) >= timeout)
                return false;
            await Task.Delay(PollInterval);
        }

        return true;
    }

    /// <summary>Returns once nothing arrived for <paramref name="quiet"/>: "and nothing more came", no late duplicate.</summary>
    public async Task WaitForQuietAsync(TimeSpan quiet, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity)) < quiet)
        {
            if (Stopwatch.GetElapsedTime(started) >= timeout)
                throw new TimeoutException($"mosquitto_sub did not go quiet for {quiet} within {timeout}.");
            await Task.Delay(PollInterval);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }
}
