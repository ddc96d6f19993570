using MQTTnet;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// A subscriber that notes when the first message on a topic arrives and then unsubscribes, so that it costs the
/// drain being measured nothing afterwards.
/// </summary>
internal sealed class FirstArrival : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly TaskCompletionSource<DateTime> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FirstArrival(IMqttClient client) => _client = client;

    public Task<DateTime> Task => _first.Task;

    public static async Task<FirstArrival> SubscribeAsync(string host, int port, string topic, CancellationToken cancellationToken)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var arrival = new FirstArrival(client);
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (arrival._first.TrySetResult(DateTime.UtcNow))
                _ = client.UnsubscribeAsync(topic, CancellationToken.None);
            return System.Threading.Tasks.Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithCleanStart(true).Build(), cancellationToken);
        await client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtMostOnce, cancellationToken);
        return arrival;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
            await _client.DisconnectAsync();
        _client.Dispose();
    }
}
