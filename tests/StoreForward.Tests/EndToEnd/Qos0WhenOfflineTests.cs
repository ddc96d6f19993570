using MQTTnet.Protocol;

namespace StoreForward.Tests.EndToEnd;

/// <summary>QoS 0 publishes made while the broker is down: kept for the reconnect, or discarded at the call.</summary>
public sealed class Qos0WhenOfflineTests : BrokerTest
{
    private async Task<StoreForwardPublisher> StartOfflineAsync(Qos0WhenOffline policy)
    {
        await Broker.StopAsync();
        var options = Options();
        options.Qos0WhenOffline = policy;
        return await StartPublisherAsync(options);
    }

    /// <summary>Starts the broker again and waits for the publisher and the subscriber: QoS 0 reaches only a subscriber that is there.</summary>
    private async Task ReconnectAsync(StoreForwardPublisher publisher)
    {
        await Broker.StartAgainAsync();
        await Subscriber.WaitUntilReceivingAsync();
        var deadline = DateTime.UtcNow + Patience;
        while (!publisher.Status.IsConnected && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.True(publisher.Status.IsConnected);
    }

    [Fact]
    public async Task Drop_discards_qos0_published_while_offline_but_keeps_other_qos_and_qos0_published_online()
    {
        var publisher = await StartOfflineAsync(Qos0WhenOffline.Drop);

        var discarded = await publisher.PublishAsync("sf/data", Payload(0), MqttQualityOfServiceLevel.AtMostOnce);
        var kept = await publisher.PublishAsync("sf/data", Payload(1), MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.True(discarded.IsDiscarded);
        Assert.False(kept.IsDiscarded);
        Assert.Equal(1, publisher.Status.PendingMessages);
        Assert.Equal(1, publisher.Status.DiscardedQos0);

        await ReconnectAsync(publisher);
        Assert.False((await publisher.PublishAsync("sf/data", Payload(2), MqttQualityOfServiceLevel.AtMostOnce)).IsDiscarded);
        await publisher.FlushAsync().WaitAsync(Patience);
        await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 2, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);

        Assert.Equal([1, 2], ReceivedIndexes().Order());
        Assert.Equal(2, PublishesFromPublisher().Count);
        Assert.Equal(1, publisher.Status.DiscardedQos0);
    }

    [Fact]
    public async Task Store_keeps_qos0_published_while_offline_and_sends_it_after_the_reconnect()
    {
        var publisher = await StartOfflineAsync(Qos0WhenOffline.Store);

        var receipt = await publisher.PublishAsync("sf/data", Payload(0), MqttQualityOfServiceLevel.AtMostOnce);

        Assert.False(receipt.IsDiscarded);
        Assert.Equal(1, publisher.Status.PendingMessages);
        await ReconnectAsync(publisher);
        await publisher.FlushAsync().WaitAsync(Patience);

        // The publisher may send it before the subscriber is back, which a QoS 0 message does not wait for: the broker's
        // log shows what it received.
        Assert.Contains(", q0, ", Assert.Single(PublishesFromPublisher()), StringComparison.Ordinal);
        Assert.Equal(0, publisher.Status.DiscardedQos0);
    }
}
