using MQTTnet.Protocol;
using StoreForward.Subscribing;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// QoS 1 delivers at least once; with the identity stamp and a <see cref="DuplicateFilter"/> a subscriber processes each
/// message once. The repeats are real: PUBACKs lost on the way back make the publisher resend after a reconnect, and
/// Mosquitto forwards each resend again.
/// </summary>
public sealed class IdempotencyTests : BrokerTest
{
    private const int Count = 30;

    [Fact]
    public async Task Repeats_of_qos1_messages_after_lost_pubacks_are_recognised_by_the_subscribers_filter()
    {
        await using var subscriber = await PersistentSubscriber.StartAsync(Broker.Host, Broker.Port, "sf/#", SubscriberId + "-v5", MqttQualityOfServiceLevel.AtLeastOnce);
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var lost = 0;
        proxy.DropFromBroker = p => p.Type == MqttPacketType.PubAck && Interlocked.Increment(ref lost) <= 10;
        var options = Options(proxy.Port);
        options.StampMessageIdentity = true;
        options.AckTimeout = TimeSpan.FromSeconds(1);
        var publisher = await StartPublisherAsync(options);

        var receipts = await PublishManyAsync(publisher, 0, Count, MqttQualityOfServiceLevel.AtLeastOnce, producers: 1);
        await publisher.FlushAsync().WaitAsync(Patience);
        await subscriber.WaitForCountAsync(Count, Patience);
        await subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);

        var received = subscriber.Messages.Where(m => m.Topic == "sf/data").ToList();
        var filter = new DuplicateFilter();
        var processed = received
            .Where(m => !filter.IsDuplicate(
                m.UserProperties.Single(p => p.Name == MessageIdentity.ClientIdProperty).Value,
                long.Parse(m.UserProperties.Single(p => p.Name == MessageIdentity.SequenceProperty).Value, System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();

        Assert.True(received.Count > Count, $"no repeats reached the subscriber ({received.Count} messages), so nothing was tested");
        Assert.Equal(Enumerable.Range(0, Count), processed.Select(m => int.Parse(m.PayloadText, System.Globalization.CultureInfo.InvariantCulture)).Order());
        Assert.All(received, m => Assert.Equal(ClientId, m.UserProperties.Single(p => p.Name == MessageIdentity.ClientIdProperty).Value));
        Assert.Equal(
            receipts.Select(r => r.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(),
            processed.Select(m => m.UserProperties.Single(p => p.Name == MessageIdentity.SequenceProperty).Value).Order());
    }
}
