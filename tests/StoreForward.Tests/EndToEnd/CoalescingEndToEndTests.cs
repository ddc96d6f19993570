using MQTTnet.Protocol;

namespace StoreForward.Tests.EndToEnd;

/// <summary>A long outage with current-value topics coalesced: the broker gets each topic's latest value and every other message.</summary>
public sealed class CoalescingEndToEndTests : BrokerTest
{
    [Fact]
    public async Task An_outage_costs_one_message_per_coalesced_topic_and_other_topics_keep_every_message()
    {
        await Broker.StopAsync();
        var options = Options();
        options.CoalescedTopics = ["sf/plant/+/temperature"];
        var publisher = await StartPublisherAsync(options);

        for (var i = 0; i < 100; i++)
        {
            await publisher.PublishAsync("sf/plant/1/temperature", Payload(i), MqttQualityOfServiceLevel.ExactlyOnce, retain: true);
            await publisher.PublishAsync("sf/plant/2/temperature", Payload(1000 + i), MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            if (i % 10 == 0)
                await publisher.PublishAsync("sf/data", Payload(i / 10));
        }

        Assert.Equal(12, publisher.Status.PendingMessages);
        Assert.Equal(198, publisher.Status.Superseded);

        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);
        await Subscriber.WaitForCountAsync(m => m.Topic.StartsWith("sf/", StringComparison.Ordinal) && m.Topic != "sf/ready" && !m.Retain, 12, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);

        // A subscriber that resubscribes after the broker restart also gets the retained value again, flagged retained.
        List<string> Forwarded(string topic) => [.. Subscriber.Messages.Where(m => m.Topic == topic && !m.Retain).Select(m => m.PayloadText)];
        Assert.Equal(["99"], Forwarded("sf/plant/1/temperature"));
        Assert.Equal(["1099"], Forwarded("sf/plant/2/temperature"));
        Assert.Equal(Enumerable.Range(0, 10), ReceivedIndexes());
    }
}
