using System.Diagnostics;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// The client library's own rate: MQTTnet's <see cref="IMqttClient"/> publishing from memory with a fixed number of
/// publishes in flight, nothing persisted. It shows what a plain client gets below the broker's ceiling
/// (<see cref="RawSocketCeiling"/>); StoreForward adds a durable store and exactly-once resume to the same socket work.
/// </summary>
internal static class RawMqttNet
{
    public static async Task<double> MeasureAsync(
        string host, int port, int count, int inFlight, MqttQualityOfServiceLevel qos, int payloadBytes, CancellationToken cancellationToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithClientId("sf-bench-raw-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(60))
            .Build();
        await client.ConnectAsync(options, cancellationToken);

        var payload = new byte[payloadBytes];
        using var slots = new SemaphoreSlim(inFlight);
        var failures = 0;
        var pending = new List<Task>(count);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await slots.WaitAsync(cancellationToken);
            var message = new MqttApplicationMessageBuilder().WithTopic("bench/raw").WithPayload(payload).WithQualityOfServiceLevel(qos).Build();
            pending.Add(PublishOneAsync(message));
        }

        await Task.WhenAll(pending);
        var elapsed = clock.Elapsed;
        await client.DisconnectAsync(cancellationToken: cancellationToken);
        if (failures > 0)
            throw new InvalidOperationException($"{failures} raw publishes were not acknowledged as successful.");
        return count / elapsed.TotalSeconds;

        async Task PublishOneAsync(MqttApplicationMessage message)
        {
            try
            {
                var result = await client.PublishAsync(message, cancellationToken);
                if (!result.IsSuccess)
                    Interlocked.Increment(ref failures);
            }
            finally
            {
                slots.Release();
            }
        }
    }
}
