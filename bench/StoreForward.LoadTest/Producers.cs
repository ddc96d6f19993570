using System.Diagnostics;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// Publishes through StoreForward the way a gateway does: <c>producers</c> tasks that each keep up to <c>outstanding</c>
/// publishes awaiting their durable commit.
/// </summary>
internal static class Producers
{
    public static async Task<TimeSpan> PublishAsync(
        StoreForwardPublisher publisher, int count, int producers, int outstanding, string topic,
        MqttQualityOfServiceLevel qos, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(async () =>
        {
            var pending = new Queue<Task<PublishReceipt>>(outstanding);
            while (Interlocked.Increment(ref next) < count)
            {
                if (pending.Count == outstanding)
                    await pending.Dequeue();
                pending.Enqueue(publisher.PublishAsync(topic, payload, qos, cancellationToken: cancellationToken));
            }

            while (pending.Count > 0)
                await pending.Dequeue();
        }, cancellationToken)));
        return clock.Elapsed;
    }
}
