using System.Buffers;
using System.Diagnostics;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// The "other end" of a store-and-forward test: an independent MQTTnet client with a
/// persistent session that records every message it receives. Because its session persists
/// (CleanSession=false / CleanStart=false + Session Expiry) and it reconnects on its own, it
/// keeps receiving across broker restarts. It is no judge of exactly-once: MQTTnet's client
/// delivers QoS 2 messages on PUBLISH and keeps no inbound state, so a broker's DUP resend after a
/// restart shows up here as a second message. The end-to-end tests use
/// <see cref="MosquittoSubscriber"/> and the broker's own intake for that; this one serves the
/// infrastructure tests and <see cref="ReadRetainedAsync"/>.
/// </summary>
public sealed class PersistentSubscriber : IAsyncDisposable
{
    private static readonly TimeSpan ReconnectInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    private readonly IMqttClient _client;
    private readonly MqttClientOptions _options;
    private readonly MqttQualityOfServiceLevel _qos;
    private readonly Lock _messagesLock = new();
    private readonly List<ReceivedMessage> _messages = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _reconnectLoop = Task.CompletedTask;
    private long _lastActivityTimestamp = Stopwatch.GetTimestamp();
    private int _connectCount;
    private bool _subscribed;
    private int _disposed;

    private PersistentSubscriber(string host, int port, string topicFilter, string clientId, MqttQualityOfServiceLevel qos, MqttProtocolVersion protocolVersion)
    {
        TopicFilter = topicFilter;
        ClientId = clientId;
        _qos = qos;

        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithClientId(clientId)
            .WithProtocolVersion(protocolVersion)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(10))

            // Short connect timeout: while the broker is down each attempt should fail fast so
            // the loop reconnects promptly once it is back.
            .WithTimeout(TimeSpan.FromSeconds(5));

        builder = protocolVersion == MqttProtocolVersion.V500
            ? builder.WithCleanStart(false).WithSessionExpiryInterval(3600)
            : builder.WithCleanSession(false);

        _options = builder.Build();
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
    }

    public string ClientId { get; }

    public string TopicFilter { get; }

    public bool IsConnected => _client.IsConnected;

    /// <summary>How many successful CONNECTs this subscriber has made (1 + reconnects).</summary>
    public int ConnectCount => Volatile.Read(ref _connectCount);

    /// <summary>The last error of a (re)connect attempt, for diagnosing a subscriber that never came back.</summary>
    public Exception? LastConnectError { get; private set; }

    /// <summary>Snapshot of every message received so far, in arrival order (duplicates kept).</summary>
    public IReadOnlyList<ReceivedMessage> Messages
    {
        get
        {
            lock (_messagesLock)
            {
                return _messages.ToArray();
            }
        }
    }

    /// <summary>
    /// Connects (and subscribes) before returning, so a test can publish right away, then keeps
    /// reconnecting in the background whenever the connection drops.
    /// </summary>
    public static async Task<PersistentSubscriber> StartAsync(
        string host,
        int port,
        string topicFilter,
        string clientId,
        MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.ExactlyOnce,
        MqttProtocolVersion protocolVersion = MqttProtocolVersion.V500)
    {
        var subscriber = new PersistentSubscriber(host, port, topicFilter, clientId, qos, protocolVersion);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await subscriber.ConnectAndSubscribeAsync(timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            await subscriber.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        subscriber._reconnectLoop = Task.Run(() => subscriber.ReconnectLoopAsync(subscriber._stop.Token));
        return subscriber;
    }

    /// <summary>
    /// Connects with a throw-away clean session, subscribes to <paramref name="topic"/> and
    /// returns what arrived within <paramref name="wait"/>: with no publisher active, that is the
    /// retained message (if any), which is how tests check what a broker kept.
    /// </summary>
    public static async Task<IReadOnlyList<ReceivedMessage>> ReadRetainedAsync(
        string host, int port, string topic, TimeSpan wait, MqttProtocolVersion protocolVersion = MqttProtocolVersion.V500)
    {
        var received = new List<ReceivedMessage>();
        var gate = new Lock();
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            lock (gate)
            {
                received.Add(ToReceived(e.ApplicationMessage));
            }

            return Task.CompletedTask;
        };

        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithClientId("sf-retained-" + Guid.NewGuid().ToString("N"))
            .WithProtocolVersion(protocolVersion)
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(5))
            .Build();

        await client.ConnectAsync(options).ConfigureAwait(false);
        await client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce).ConfigureAwait(false);
        await Task.Delay(wait).ConfigureAwait(false);
        await client.DisconnectAsync().ConfigureAwait(false);

        lock (gate)
        {
            return received.ToArray();
        }
    }

    /// <summary>Polls until at least <paramref name="count"/> messages have arrived; false on timeout.</summary>
    public async Task<bool> WaitForCountAsync(int count, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            if (MessageCount >= count)
            {
                return true;
            }

            if (Stopwatch.GetElapsedTime(started) >= timeout)
            {
                return false;
            }

            await Task.Delay(PollInterval).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Returns once no message has arrived for <paramref name="quiet"/> (counting from the last
    /// message, or from subscriber start if none arrived): used to assert "and nothing more came",
    /// e.g. no late duplicates. Throws <see cref="TimeoutException"/> if messages keep arriving
    /// for longer than <paramref name="timeout"/>.
    /// </summary>
    public async Task WaitForQuietAsync(TimeSpan quiet, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivityTimestamp)) >= quiet)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) >= timeout)
            {
                throw new TimeoutException($"Subscriber {ClientId} did not go quiet for {quiet} within {timeout} ({MessageCount} messages).");
            }

            await Task.Delay(PollInterval).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _reconnectLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Expected on shutdown.
        }

        // A normal DISCONNECT without a Session Expiry property keeps the session on the broker
        // (MQTTnet omits the property when it is 0), so a later subscriber with the same
        // ClientId still gets what was queued in between.
        if (_client.IsConnected)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), timeout.Token).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Cleanup must not hide the test's own result; the broker may already be gone.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        _client.Dispose();
        _stop.Dispose();
    }

    private int MessageCount
    {
        get
        {
            lock (_messagesLock)
            {
                return _messages.Count;
            }
        }
    }

    private static ReceivedMessage ToReceived(MqttApplicationMessage message) =>
        new(
            message.Topic,

            // Copy: MQTTnet may reuse the underlying buffer after the callback returns.
            message.Payload.ToArray(),
            message.QualityOfServiceLevel,
            message.Retain,
            message.Dup,
            DateTimeOffset.UtcNow)
        {
            ContentType = message.ContentType,
            PayloadFormat = message.PayloadFormatIndicator,
            ResponseTopic = message.ResponseTopic,
            CorrelationData = message.CorrelationData?.ToArray(),
            UserProperties = message.UserProperties?.Select(p => (p.Name, System.Text.Encoding.UTF8.GetString(p.ValueBuffer.Span))).ToList() ?? [],
            MessageExpiryInterval = message.MessageExpiryInterval,
        };

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var received = ToReceived(e.ApplicationMessage);
        lock (_messagesLock)
        {
            _messages.Add(received);
        }

        Interlocked.Exchange(ref _lastActivityTimestamp, Stopwatch.GetTimestamp());
        return Task.CompletedTask;
    }

    private async Task ConnectAndSubscribeAsync(CancellationToken cancellationToken)
    {
        var result = await _client.ConnectAsync(_options, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _connectCount);

        // Subscribe when the broker has no session for us (first connect, or the broker lost it,
        // e.g. killed before autosave) and also when an earlier SUBSCRIBE never got its SUBACK:
        // the session then exists but may lack the subscription.
        if (!result.IsSessionPresent || !_subscribed)
        {
            _subscribed = false;
            var subscribeOptions = new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(TopicFilter, _qos)
                .Build();
            var subscribeResult = await _client.SubscribeAsync(subscribeOptions, cancellationToken).ConfigureAwait(false);
            foreach (var item in subscribeResult.Items)
            {
                if ((int)item.ResultCode >= 0x80)
                {
                    throw new InvalidOperationException($"Subscribe to '{TopicFilter}' refused: {item.ResultCode}.");
                }
            }

            _subscribed = true;
        }
    }

    private async Task ReconnectLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ReconnectInterval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (_client.IsConnected)
            {
                continue;
            }

            try
            {
                await ConnectAndSubscribeAsync(cancellationToken).ConfigureAwait(false);
                LastConnectError = null;
            }
#pragma warning disable CA1031 // Broker down / restarting: any failure just means "try again in 200 ms".
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LastConnectError = ex;
            }
        }
    }
}
