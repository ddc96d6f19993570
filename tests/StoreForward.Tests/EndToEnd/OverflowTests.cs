using System.Collections.Concurrent;
using MQTTnet.Protocol;

namespace StoreForward.Tests.EndToEnd;

/// <summary>A bounded outbox during an outage: each <see cref="OverflowPolicy"/>, then what reaches Mosquitto.</summary>
public sealed class OverflowTests : BrokerTest
{
    private StoreForwardOptions Bounded(OverflowPolicy policy, long? maxMessages = null, long? maxBytes = null)
    {
        var options = Options();
        options.MaxPendingMessages = maxMessages;
        options.MaxPendingBytes = maxBytes;
        options.OverflowPolicy = policy;
        return options;
    }

    /// <summary>Publishes index <c>first + i</c> for i below <paramref name="count"/> from 32 producers; a refused publish yields null.</summary>
    private static async Task<(PublishReceipt?[] Receipts, List<StoreFullException> Refusals)> PublishConcurrentlyAsync(StoreForwardPublisher publisher, int first, int count)
    {
        var receipts = new PublishReceipt?[count];
        var refusals = new ConcurrentBag<StoreFullException>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                try
                {
                    receipts[i] = await publisher.PublishAsync("sf/data", Payload(first + i), MqttQualityOfServiceLevel.ExactlyOnce);
                }
                catch (StoreFullException e)
                {
                    refusals.Add(e);
                }
            }
        })));
        return (receipts, [.. refusals]);
    }

    [Theory]
    [InlineData(100L, null)]
    [InlineData(null, 100 * 10L)]
    public async Task Reject_holds_the_limit_exactly_under_32_concurrent_publishers_and_names_it(long? maxMessages, long? maxBytes)
    {
        await Broker.StopAsync();
        var publisher = await StartPublisherAsync(Bounded(OverflowPolicy.Reject, maxMessages, maxBytes));

        // Payloads "100" to "399": 3 bytes each, plus the 7-byte topic, so 100 messages make 1,000 bytes.
        var (receipts, refusals) = await PublishConcurrentlyAsync(publisher, 100, 300);

        Assert.Equal(100, receipts.Count(r => r is not null));
        Assert.Equal(200, refusals.Count);
        Assert.Equal(100, publisher.Status.PendingMessages);
        var refusal = refusals[0];
        Assert.Contains(maxMessages is null ? "at most 1,000 bytes (MaxPendingBytes)" : "at most 100 messages (MaxPendingMessages)", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("'sf/data'", refusal.Message, StringComparison.Ordinal);
        Assert.Equal(100, refusal.PendingMessages);

        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 100, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        var accepted = Enumerable.Range(0, 300).Where(i => receipts[i] is not null).Select(i => 100 + i);
        Assert.Equal(accepted.Order(), ReceivedIndexes().Order());
    }

    [Fact]
    public async Task DropOldest_keeps_the_newest_messages_and_reports_every_drop_durably()
    {
        await Broker.StopAsync();
        var options = Bounded(OverflowPolicy.DropOldest, maxMessages: 50);
        var dropped = new ConcurrentBag<DroppedMessage>();
        PublishReceipt[] receipts;
        await using (var publisher = await StoreForwardPublisher.StartAsync(options))
        {
            publisher.MessageDropped += (_, message) => dropped.Add(message);
            receipts = await PublishManyAsync(publisher, 0, 200, MqttQualityOfServiceLevel.ExactlyOnce, producers: 8);

            Assert.Equal(50, publisher.Status.PendingMessages);
            Assert.Equal(150, publisher.Status.Dropped);
            var deadline = DateTime.UtcNow + Patience;
            while (dropped.Count < 150 && DateTime.UtcNow < deadline)
                await Task.Delay(10);
        }

        var bySequence = receipts.Select((r, i) => (r.Sequence, Index: i)).OrderBy(x => x.Sequence).ToList();
        Assert.Equal(bySequence.Take(150).Select(x => x.Sequence), dropped.Select(d => d.Sequence).Order());
        Assert.All(dropped, d => Assert.Equal("sf/data", d.Topic));

        await Broker.StartAgainAsync();
        var again = await StartPublisherAsync(options);
        Assert.Equal(150, again.Status.Dropped);
        await again.FlushAsync().WaitAsync(Patience);
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 50, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        Assert.Equal(bySequence.Skip(150).Select(x => x.Index), ReceivedIndexes());
    }

    [Fact]
    public async Task Wait_holds_publishes_in_order_until_delivery_makes_room_and_a_cancelled_one_stores_nothing()
    {
        await Broker.StopAsync();
        var publisher = await StartPublisherAsync(Bounded(OverflowPolicy.Wait, maxMessages: 20));
        var first = await PublishManyAsync(publisher, 0, 20, MqttQualityOfServiceLevel.AtLeastOnce);

        using var cancel = new CancellationTokenSource();
        var waiting = Enumerable.Range(20, 10)
            .Select(i => publisher.PublishAsync("sf/data", Payload(i), MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: i == 25 ? cancel.Token : default))
            .ToList();
        await Task.Delay(300);
        Assert.All(waiting, w => Assert.False(w.IsCompleted));
        Assert.Equal(20, publisher.Status.PendingMessages);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting[5]);
        await Broker.StartAgainAsync();
        var later = await Task.WhenAll(waiting.Where((_, i) => i != 5));
        await publisher.FlushAsync().WaitAsync(Patience);

        // Waiting publishes were stored in the order they were made, after the ones before them.
        Assert.Equal(later.Select(r => r.Sequence).Order(), later.Select(r => r.Sequence));
        Assert.True(later[0].Sequence > first.Max(r => r.Sequence));
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 29, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        Assert.Equal(Enumerable.Range(0, 30).Where(i => i != 25), ReceivedIndexes().Order());
    }

    [Fact]
    public async Task A_publish_still_waiting_for_room_when_the_publisher_is_disposed_fails_and_stores_nothing()
    {
        await Broker.StopAsync();
        long pending;
        await using (var publisher = await StoreForwardPublisher.StartAsync(Bounded(OverflowPolicy.Wait, maxMessages: 1)))
        {
            await publisher.PublishAsync("sf/data", Payload(0));
            var waiting = publisher.PublishAsync("sf/data", Payload(1));
            await publisher.DisposeAsync();

            await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting);
        }

        await using (var reopened = await StoreForwardPublisher.StartAsync(Bounded(OverflowPolicy.Wait, maxMessages: 1)))
            pending = reopened.Status.PendingMessages;
        Assert.Equal(1, pending);
    }
}
