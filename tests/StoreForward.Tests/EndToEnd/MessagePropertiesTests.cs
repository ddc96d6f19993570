using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// MQTT 5 properties and message expiry through the outbox and an app restart, as an MQTTnet subscriber on Mosquitto sees
/// them.
/// </summary>
public sealed class MessagePropertiesTests : BrokerTest
{
    private PersistentSubscriber _subscriber = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _subscriber = await PersistentSubscriber.StartAsync(Broker.Host, Broker.Port, "sf/props/#", "sf-props-" + Guid.NewGuid().ToString("N")[..8]);
    }

    public override async Task DisposeAsync()
    {
        await _subscriber.DisposeAsync();
        await base.DisposeAsync();
    }

    private StoreForwardOptions OptionsWithDefaultExpiry()
    {
        var options = Options();
        options.DefaultMessageExpiry = TimeSpan.FromHours(1);
        return options;
    }

    [Fact]
    public async Task Properties_survive_the_store_and_a_restart_and_expiry_drops_old_messages_and_sends_the_remaining_lifetime()
    {
        await Broker.StopAsync();
        DateTimeOffset stored;
        await using (var publisher = await StoreForwardPublisher.StartAsync(OptionsWithDefaultExpiry()))
        {
            await publisher.PublishAsync(new MqttApplicationMessage
            {
                Topic = "sf/props/reading",
                PayloadSegment = "{\"t\":21.5}"u8.ToArray(),
                QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce,
                ContentType = "application/json",
                PayloadFormatIndicator = MqttPayloadFormatIndicator.CharacterData,
                ResponseTopic = "sf/props/reply",
                CorrelationData = [1, 2, 3],
                UserProperties = [new MqttUserProperty("site", "plant-7"u8.ToArray().AsMemory()), new MqttUserProperty("line", "3"u8.ToArray().AsMemory())],
                MessageExpiryInterval = 7200,
            });
            await publisher.PublishAsync(new MqttApplicationMessage { Topic = "sf/props/short-lived", PayloadSegment = "x"u8.ToArray(), MessageExpiryInterval = 1 });
            await publisher.PublishAsync("sf/props/default", "d"u8.ToArray());
            stored = DateTimeOffset.UtcNow;
        }

        // The short-lived message's second passes while the app is down.
        while (DateTimeOffset.UtcNow - stored < TimeSpan.FromSeconds(1.5))
            await Task.Delay(100);
        await Broker.StartAgainAsync();
        var restarted = await StartPublisherAsync(OptionsWithDefaultExpiry());
        await restarted.FlushAsync().WaitAsync(Patience);
        await _subscriber.WaitForCountAsync(2, Patience);
        await _subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);

        Assert.Equal(1, restarted.Status.Expired);
        var received = _subscriber.Messages.OrderBy(m => m.Topic).ToList();
        Assert.Equal(["sf/props/default", "sf/props/reading"], received.Select(m => m.Topic));
        var reading = received[1];
        Assert.Equal("{\"t\":21.5}", reading.PayloadText);
        Assert.Equal(("application/json", MqttPayloadFormatIndicator.CharacterData, "sf/props/reply"), (reading.ContentType, reading.PayloadFormat, reading.ResponseTopic));
        Assert.Equal([1, 2, 3], reading.CorrelationData);
        Assert.Equal([("site", "plant-7"), ("line", "3")], reading.UserProperties);

        // What is left of the lifetime, not the lifetime: at least 1.5 s of each passed in the outbox.
        Assert.InRange(reading.MessageExpiryInterval, 7000u, 7199u);
        Assert.InRange(received[0].MessageExpiryInterval, 3400u, 3599u);
    }

    [Fact]
    public async Task A_message_without_expiry_carries_no_expiry_interval()
    {
        var publisher = await StartPublisherAsync(Options());
        await publisher.PublishAsync("sf/props/plain", "p"u8.ToArray());
        await publisher.FlushAsync().WaitAsync(Patience);
        await _subscriber.WaitForCountAsync(1, Patience);

        var plain = Assert.Single(_subscriber.Messages);
        Assert.Equal(0u, plain.MessageExpiryInterval);
        Assert.Null(plain.ContentType);
        Assert.Empty(plain.UserProperties);
    }
}
