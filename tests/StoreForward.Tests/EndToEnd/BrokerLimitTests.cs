using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// A broker with a small Maximum Packet Size, Maximum QoS 1, no retained messages and an ACL: each message it can never
/// accept gets a reported dead letter, and the messages behind it still flow.
/// </summary>
public sealed class BrokerLimitTests : BrokerTest
{
    public BrokerLimitTests()
        : base(new MosquittoSettings
        {
            MaxPacketSize = 400,
            MaxQos = 1,
            RetainAvailable = false,
            ExtraConfig = [$"acl_file {AclFile}"],
        })
    {
    }

    private static string AclFile { get; } = WriteAcl();

    private static string WriteAcl()
    {
        var path = Path.Combine(Path.GetTempPath(), "sf-acl-" + Guid.NewGuid().ToString("N") + ".acl");
        File.WriteAllText(path, "topic read sf/#\ntopic write sf/data\ntopic write sf/ready\n");
        return path;
    }

    [Fact]
    public async Task Messages_the_broker_can_never_accept_become_dead_letters_and_do_not_block_the_queue()
    {
        var publisher = await StartPublisherAsync(Options());
        var events = new System.Collections.Concurrent.ConcurrentQueue<DeadLetter>();
        publisher.MessageDeadLettered += (_, d) => events.Enqueue(d);

        var ok0 = await publisher.PublishAsync("sf/data", Payload(0));
        var tooLarge = await publisher.PublishAsync("sf/data", new byte[1000]);
        var qos2 = await publisher.PublishAsync("sf/data", Payload(99), MqttQualityOfServiceLevel.ExactlyOnce);
        var retained = await publisher.PublishAsync("sf/data", Payload(98), retain: true);
        var denied = await publisher.PublishAsync("sf/denied", Payload(97));
        var ok1 = await publisher.PublishAsync("sf/data", Payload(1));
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [ok0, ok1], exactlyOnce: true);
        var deadLetters = await publisher.GetDeadLettersAsync();
        Assert.Equal(
            [
                (tooLarge.Sequence, DeadLetterReason.PacketTooLarge, (int?)null),
                (qos2.Sequence, DeadLetterReason.QosNotSupported, null),
                (retained.Sequence, DeadLetterReason.RetainNotSupported, null),
                (denied.Sequence, DeadLetterReason.RejectedByBroker, 0x87),
            ],
            deadLetters.Select(d => (d.Sequence, d.Reason, d.ReasonCode)));
        Assert.Contains("Maximum Packet Size of 400 bytes", deadLetters[0].Detail, StringComparison.Ordinal);
        Assert.Equal(4, publisher.Status.DeadLetters);
        Assert.Equal(0, publisher.Status.PendingMessages);
        for (var i = 0; i < 100 && events.Count < 4; i++)
            await Task.Delay(20);
        Assert.Equal(deadLetters.Select(d => d.Sequence), events.Select(d => d.Sequence));
    }

    [Fact]
    public async Task On_mqtt_311_a_message_that_makes_the_broker_drop_the_link_becomes_a_dead_letter_after_max_delivery_attempts()
    {
        // MQTT 3.1.1 announces no Maximum Packet Size, so the message is sent, and Mosquitto closes the connection on it.
        var options = Options(version: MQTTnet.Formatter.MqttProtocolVersion.V311);
        options.MaxDeliveryAttempts = 3;
        var publisher = await StartPublisherAsync(options);

        var tooLarge = await publisher.PublishAsync("sf/data", new byte[1000]);
        var ok = await publisher.PublishAsync("sf/data", Payload(0));
        await publisher.FlushAsync().WaitAsync(Patience);

        var deadLetter = Assert.Single(await publisher.GetDeadLettersAsync());
        Assert.Equal((tooLarge.Sequence, DeadLetterReason.MaxDeliveryAttemptsExceeded), (deadLetter.Sequence, deadLetter.Reason));
        Assert.Contains("resent on 3 connections after the first", deadLetter.Detail, StringComparison.Ordinal);
        Assert.True(publisher.ConnectAttempts >= 4);
        await AssertDeliveredAsync(0, [ok], exactlyOnce: true);
    }
}
