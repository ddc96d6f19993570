using System.Diagnostics;
using MQTTnet;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// A subscriber that notes when each message on a topic arrives and how many topic and payload bytes it carries: the
/// rate a publisher's limits let through, seen from the broker's other side.
/// </summary>
internal sealed class ArrivalTimes : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly List<(long At, int Bytes)> _arrivals = [];

    private ArrivalTimes(IMqttClient client) => _client = client;

    public static async Task<ArrivalTimes> SubscribeAsync(string host, int port, string topic, CancellationToken cancellationToken)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var arrivals = new ArrivalTimes(client);
        var topicBytes = System.Text.Encoding.UTF8.GetByteCount(topic);
        client.ApplicationMessageReceivedAsync += e =>
        {
            var bytes = topicBytes + (int)e.ApplicationMessage.Payload.Length;
            lock (arrivals._arrivals)
                arrivals._arrivals.Add((Stopwatch.GetTimestamp(), bytes));
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithCleanStart(true).Build(), cancellationToken);
        await client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtMostOnce, cancellationToken);
        return arrivals;
    }

    /// <summary>Waits until <paramref name="count"/> messages arrived; then the rates over the arrivals.</summary>
    public async Task<ArrivalRates> WaitForAsync(int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (Count < count)
        {
            if (deadline.Elapsed > timeout)
                throw new TimeoutException($"{Count} of {count} messages arrived within {timeout}.");
            await Task.Delay(50, cancellationToken);
        }

        lock (_arrivals)
            return ArrivalRates.Of(_arrivals);
    }

    private int Count
    {
        get
        {
            lock (_arrivals)
                return _arrivals.Count;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
            await _client.DisconnectAsync();
        _client.Dispose();
    }
}

/// <summary>
/// Rates over a run of arrivals: the average from the first arrival to the last (the first one's own message and bytes
/// are not counted, as they arrived at the start of the span), and the most in any one second.
/// </summary>
internal sealed record ArrivalRates(double MessagesPerSecond, double BytesPerSecond, int MostMessagesInASecond, long MostBytesInASecond)
{
    public static ArrivalRates Of(IReadOnlyList<(long At, int Bytes)> arrivals)
    {
        var span = Stopwatch.GetElapsedTime(arrivals[0].At, arrivals[^1].At).TotalSeconds;
        var bytesAfterFirst = arrivals.Skip(1).Sum(a => (long)a.Bytes);
        int mostMessages = 0;
        long mostBytes = 0, windowBytes = 0;
        var start = 0;
        for (var end = 0; end < arrivals.Count; end++)
        {
            windowBytes += arrivals[end].Bytes;
            while (Stopwatch.GetElapsedTime(arrivals[start].At, arrivals[end].At) >= TimeSpan.FromSeconds(1))
                windowBytes -= arrivals[start++].Bytes;
            mostMessages = Math.Max(mostMessages, end - start + 1);
            mostBytes = Math.Max(mostBytes, windowBytes);
        }

        return new ArrivalRates((arrivals.Count - 1) / span, bytesAfterFirst / span, mostMessages, mostBytes);
    }
}
