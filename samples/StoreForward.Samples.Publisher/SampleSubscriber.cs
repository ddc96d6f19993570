using System.Text;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Samples.Publisher;

/// <summary>
/// A plain MQTTnet subscriber that prints what arrives. It uses a persistent session (static client id, CleanStart=false,
/// a session expiry), so the broker keeps its subscription and queues its messages while it is away, and it reconnects
/// on its own after the broker restarts.
/// </summary>
internal sealed class SampleSubscriber : IAsyncDisposable
{
    public const string ClientId = "storeforward-sample-subscriber";

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(5);

    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly MqttClientOptions _options;
    private readonly string _filter;
    private readonly DeliveryTally _tally;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstConnect = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _keepConnected = Task.CompletedTask;

    private SampleSubscriber(string host, int port, string filter, DeliveryTally tally)
    {
        _filter = filter;
        _tally = tally;
        _options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(ClientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(3600) // seconds the broker keeps the session after a disconnect
            .Build();

        _client.ApplicationMessageReceivedAsync += e =>
        {
            var message = e.ApplicationMessage;
            var note = _tally.Received(message.Payload) switch
            {
                Arrival.Duplicate => " (duplicate)",
                Arrival.Earlier when message.Retain => " (retained)",
                Arrival.Earlier => " (published before this run)",
                _ => "",
            };
            Console.WriteLine($"[subscriber] {message.Topic} {Encoding.UTF8.GetString(message.Payload)}{note}");
            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected && !_stop.IsCancellationRequested)
                Console.WriteLine($"[subscriber] disconnected ({e.Reason}); reconnecting");
            return Task.CompletedTask;
        };
    }

    /// <summary>
    /// Connects and subscribes to <paramref name="filter"/>, waiting up to five seconds for the first connection. When the
    /// broker is not reachable yet, it keeps trying in the background.
    /// </summary>
    public static async Task<SampleSubscriber> StartAsync(string host, int port, string filter, DeliveryTally tally, CancellationToken cancellationToken)
    {
        var subscriber = new SampleSubscriber(host, port, filter, tally);
        subscriber._keepConnected = subscriber.KeepConnectedAsync(subscriber._stop.Token);
        try
        {
            await subscriber._firstConnect.Task.WaitAsync(OperationTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            Console.WriteLine($"[subscriber] {host}:{port} is not reachable yet; will keep trying");
        }

        return subscriber;
    }

    /// <summary>
    /// Connects with a fresh session (CleanStart=true), subscribes to <paramref name="topic"/> and returns the retained
    /// value the broker sends, or <see langword="null"/> when none arrives within five seconds.
    /// </summary>
    public static async Task<string?> ReadRetainedAsync(string host, int port, string topic, CancellationToken cancellationToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var retained = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Retain)
                retained.TrySetResult(Encoding.UTF8.GetString(e.ApplicationMessage.Payload));
            return Task.CompletedTask;
        };

        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId("storeforward-sample-retained-check")
            .WithCleanStart(true)
            .Build();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(OperationTimeout);
        await client.ConnectAsync(options, timeout.Token);
        await client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce, timeout.Token);
        try
        {
            return await retained.Task.WaitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        finally
        {
            await client.DisconnectAsync(new MqttClientDisconnectOptions(), CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _keepConnected;
        }
        catch (OperationCanceledException)
        {
        }

        // A normal DISCONNECT keeps the session (and its subscription) on the broker for the next run.
        if (_client.IsConnected)
            await _client.DisconnectAsync(new MqttClientDisconnectOptions(), CancellationToken.None);
        _client.Dispose();
        _stop.Dispose();
    }

    /// <summary>IMqttClient does not reconnect by itself: check the connection every half second and connect again.</summary>
    private async Task KeepConnectedAsync(CancellationToken cancellationToken)
    {
        var everConnected = false;
        while (true)
        {
            if (!_client.IsConnected)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(OperationTimeout);
                try
                {
                    var result = await _client.ConnectAsync(_options, timeout.Token);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                    {
                        Console.WriteLine($"[subscriber] broker refused the connection: {result.ResultCode} {result.ReasonString}");
                    }
                    else
                    {
                        // Subscribe only when the broker has no session for us: a kept session keeps its subscriptions.
                        if (!result.IsSessionPresent)
                            await _client.SubscribeAsync(_filter, MqttQualityOfServiceLevel.AtLeastOnce, timeout.Token);
                        Console.WriteLine(everConnected
                            ? $"[subscriber] reconnected (session present: {result.IsSessionPresent})"
                            : $"[subscriber] connected as {ClientId}, subscribed to {_filter} (session present: {result.IsSessionPresent})");
                        everConnected = true;
                        _firstConnect.TrySetResult();
                    }
                }
                catch (Exception ex) when (ex is MqttCommunicationException or InvalidOperationException
                                           || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    // The broker is down or the attempt timed out: try again shortly.
                }
            }

            await Task.Delay(RetryDelay, cancellationToken);
        }
    }
}
