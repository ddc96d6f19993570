using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Tests.EndToEnd;

public sealed class DeliveryTests : BrokerTest
{
    [Theory]
    [InlineData(MqttProtocolVersion.V500)]
    [InlineData(MqttProtocolVersion.V311)]
    public async Task A_backlog_built_while_the_broker_is_down_is_delivered_in_order_once_it_starts(MqttProtocolVersion version)
    {
        await Broker.StopAsync();
        var publisher = await StartPublisherAsync(Options(version: version));

        var receipts = await PublishManyAsync(publisher, 0, 1500, MqttQualityOfServiceLevel.ExactlyOnce);
        Assert.Equal(1500, publisher.Status.PendingMessages);
        Assert.False(publisher.Status.IsConnected);

        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(0, publisher.Status.PendingMessages);
        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttProtocolVersion.V311, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttProtocolVersion.V500, MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttProtocolVersion.V311, MqttQualityOfServiceLevel.AtLeastOnce)]
    public async Task A_graceful_broker_restart_mid_stream_loses_nothing_duplicates_nothing_and_keeps_order(MqttProtocolVersion version, MqttQualityOfServiceLevel qos)
    {
        var publisher = await StartPublisherAsync(Options(version: version));
        var restarted = false;

        var publishing = PublishManyAsync(publisher, 0, 3000, qos);
        while (!publishing.IsCompleted && Subscriber.Messages.Count < 500)
            await Task.Delay(10);
        await Broker.RestartAsync();
        restarted = true;
        var receipts = await publishing;
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.True(restarted);
        Assert.Equal(0, publisher.Status.SessionsLost);

        // Exactly-once into the broker by its own intake: a subscriber may see the broker's DUP resends to it after the
        // restart as new messages, which is that leg's business.
        await AssertDeliveredAsync(0, receipts, exactlyOnce: false);
        if (qos == MqttQualityOfServiceLevel.ExactlyOnce)
            Assert.Equal(receipts.Length, BrokerIntake());
    }

    [Fact]
    public async Task Disposing_the_publisher_ends_the_session_with_disconnect_and_the_broker_keeps_it()
    {
        var publisher = await StoreForwardPublisher.StartAsync(Options());
        await publisher.PublishAsync("sf/data", Payload(0), MqttQualityOfServiceLevel.ExactlyOnce);
        await publisher.FlushAsync().WaitAsync(Patience);
        var goodbyes = Broker.LogLinesContaining($"Received DISCONNECT from {ClientId}").Count();

        await publisher.DisposeAsync();

        // One more DISCONNECT than the clean-start connection's; the broker logs a normal disconnect, not a broken socket.
        for (var i = 0; i < 100 && Broker.LogLinesContaining($"Client {ClientId} disconnected").Count() < goodbyes + 1; i++)
            await Task.Delay(20);
        Assert.Equal(goodbyes + 1, Broker.LogLinesContaining($"Received DISCONNECT from {ClientId}").Count());
        Assert.Empty(Broker.LogLinesContaining($"Bad socket read/write on client {ClientId}"));
    }

    [Fact]
    public async Task Qos_0_and_mixed_qos_messages_are_delivered_and_leave_the_outbox()
    {
        var publisher = await StartPublisherAsync(Options());
        var receipts = new List<PublishReceipt>();
        for (var i = 0; i < 30; i++)
            receipts.Add(await publisher.PublishAsync("sf/data", Payload(i), (MqttQualityOfServiceLevel)(i % 3)));

        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(0, publisher.Status.PendingMessages);
        await AssertDeliveredAsync(0, [.. receipts], exactlyOnce: true, orderGroupOf: i => i % 3);
    }

    [Fact]
    public async Task A_retained_value_reaches_a_new_subscriber_after_a_broker_restart_and_an_empty_retained_payload_clears_it()
    {
        var publisher = await StartPublisherAsync(Options());
        await publisher.PublishAsync("sf/plant/temperature", "{\"t\":21.5}"u8.ToArray(), retain: true);
        await publisher.FlushAsync().WaitAsync(Patience);

        await Broker.RestartAsync();
        var retained = await Infrastructure.PersistentSubscriber.ReadRetainedAsync(Broker.Host, Broker.Port, "sf/plant/temperature", TimeSpan.FromSeconds(2));

        var value = Assert.Single(retained);
        Assert.True(value.Retain);
        Assert.Equal("{\"t\":21.5}", value.PayloadText);

        await publisher.PublishAsync("sf/plant/temperature", ReadOnlyMemory<byte>.Empty, retain: true);
        await publisher.FlushAsync().WaitAsync(Patience);
        await Broker.RestartAsync();
        Assert.Empty(await Infrastructure.PersistentSubscriber.ReadRetainedAsync(Broker.Host, Broker.Port, "sf/plant/temperature", TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task Messages_stored_by_one_publisher_are_delivered_by_the_next_one_on_the_same_store()
    {
        await Broker.StopAsync();
        PublishReceipt[] receipts;
        await using (var first = await StoreForwardPublisher.StartAsync(Options()))
            receipts = await PublishManyAsync(first, 0, 200, MqttQualityOfServiceLevel.AtLeastOnce);

        await Broker.StartAgainAsync();
        var second = await StartPublisherAsync(Options());
        Assert.Equal(200, second.Status.PendingMessages);
        await second.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }
}
