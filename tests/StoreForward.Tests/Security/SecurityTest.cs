using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Security;

/// <summary>
/// A broker test for connections the broker or the client refuses: a publisher with a wrong setting must say why in its
/// log and status, keep every message, and deliver them all once a publisher with the fixed setting opens the store.
/// </summary>
public abstract class SecurityTest(MosquittoSettings settings) : BrokerTest(settings)
{
    protected const int Messages = 20;

    /// <summary>What a refused publisher reported: each failed attempt's logged reason, its status, and all it logged.</summary>
    protected sealed record Refusal(IReadOnlyList<string> Errors, string LastConnectionError, string Everything);

    /// <summary>
    /// Publishes <see cref="Messages"/> messages through a publisher with <paramref name="wrong"/> options and waits for its
    /// third failed connection attempt. Checks that it keeps the messages and backs off instead of retrying in a loop,
    /// then disposes it; the messages stay in the store.
    /// </summary>
    protected static async Task<Refusal> RefusedAsync(StoreForwardOptions wrong, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.ExactlyOnce)
    {
        var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        wrong.LoggerFactory = factory;
        await using var publisher = await StoreForwardPublisher.StartAsync(wrong);
        await PublishManyAsync(publisher, 0, Messages, qos);
        var failures = await WaitForAsync(logs, "ConnectFailed", 3);

        // Backoff (100 ms doubling to 1 s in these tests), not a hot loop, which would try thousands of times meanwhile.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.InRange(logs.Collector.GetSnapshot().Count(r => r.Id.Name == "ConnectFailed") - failures.Count, 0, 12);

        Assert.Equal(Messages, publisher.Status.PendingMessages);
        Assert.False(publisher.Status.IsConnected);
        var lastError = publisher.Status.LastConnectionError;
        Assert.NotNull(lastError);
        var everything = string.Join('\n', logs.Collector.GetSnapshot().Select(r => $"{r.Message} {r.Exception}")) + lastError;
        return new Refusal([.. failures.Select(f => f.Message)], lastError, everything);
    }

    /// <summary>
    /// Starts a publisher with the fixed options on the same store, checks that it delivers everything once, and closes it.
    /// </summary>
    protected async Task AssertFixedDeliversAsync(StoreForwardOptions fixedOptions)
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(fixedOptions);
        await publisher.FlushAsync().WaitAsync(Patience);
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", Messages, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(300), Patience);
        Assert.Equal(Enumerable.Range(0, Messages), ReceivedIndexes().Order());
    }

    protected static async Task<IReadOnlyList<FakeLogRecord>> WaitForAsync(FakeLoggerProvider logs, string eventName, int count)
    {
        var deadline = DateTime.UtcNow + Patience;
        List<FakeLogRecord> records;
        while ((records = logs.Collector.GetSnapshot().Where(r => r.Id.Name == eventName).ToList()).Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{records.Count} {eventName} events, not {count}");
            await Task.Delay(20);
        }

        return records;
    }
}
