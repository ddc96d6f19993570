using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Logging;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// A broker that accepts QoS 1 at most, as AWS IoT Core and Azure IoT Hub do: Mosquitto with <c>max_qos 1</c> announces
/// Maximum QoS 1 in an MQTT 5 CONNACK and, like those brokers, closes an MQTT 3.1.1 connection on a QoS 2 PUBLISH.
/// </summary>
public sealed class QosCapabilityTests() : BrokerTest(new MosquittoSettings { MaxQos = 1, LogEveryPacket = true })
{
    private const int Count = 40;

    [Theory]
    [InlineData(MqttProtocolVersion.V500, null)]
    [InlineData(MqttProtocolVersion.V311, MqttQualityOfServiceLevel.AtLeastOnce)]
    public async Task Downgrade_sends_QoS_2_messages_at_the_brokers_maximum_counts_them_and_warns_once_per_connection(
        MqttProtocolVersion version, MqttQualityOfServiceLevel? declaredMaximum)
    {
        var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var options = Options(version: version);
        options.QosAboveMaximum = QosAboveMaximum.Downgrade;
        options.BrokerMaximumQos = declaredMaximum;
        options.LoggerFactory = factory;
        var publisher = await StartPublisherAsync(options);

        var receipts = await PublishManyAsync(publisher, 0, Count, MqttQualityOfServiceLevel.ExactlyOnce);
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, receipts, exactlyOnce: false);
        var publishes = PublishesFromPublisher();
        Assert.Equal(Count, publishes.Count);
        Assert.All(publishes, p => Assert.Contains(", q1,", p, StringComparison.Ordinal));
        Assert.Equal(Count, publisher.Status.Downgraded);
        Assert.Equal(0, publisher.Status.DeadLetters);
        var warning = Assert.Single(logs.Collector.GetSnapshot(), r => r.Id.Name == "QosDowngraded");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains($"127.0.0.1:{Broker.Port}", warning.Message, StringComparison.Ordinal);
        Assert.Contains("QoS 1 at most", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_declared_maximum_on_MQTT_3_1_1_dead_letters_QoS_2_by_default_and_the_rest_flows()
    {
        var options = Options(version: MqttProtocolVersion.V311);
        options.BrokerMaximumQos = MqttQualityOfServiceLevel.AtLeastOnce;
        var publisher = await StartPublisherAsync(options);

        var (qos2, deadLetter) = await DeadLetterOneQos2MessageBetweenTwoDeliveredAsync(publisher);
        Assert.Equal((qos2.Sequence, DeadLetterReason.QosNotSupported), (deadLetter.Sequence, deadLetter.Reason));
        Assert.Contains("QosAboveMaximum = Downgrade", deadLetter.Detail, StringComparison.Ordinal);
        Assert.Equal(0, publisher.Status.Downgraded);
        Assert.DoesNotContain(PublishesFromPublisher(), p => p.Contains(", q2,", StringComparison.Ordinal));
    }

    /// <summary>
    /// Without a declaration an MQTT 3.1.1 broker that closes the link on QoS 2 would get the message after every reconnect;
    /// MaxDeliveryAttempts turns it into a dead letter, and the messages behind it are delivered.
    /// </summary>
    [Fact]
    public async Task Without_a_declared_maximum_MaxDeliveryAttempts_dead_letters_a_QoS_2_message_the_broker_drops_the_link_for()
    {
        var options = Options(version: MqttProtocolVersion.V311);
        options.MaxDeliveryAttempts = 2;
        var publisher = await StartPublisherAsync(options);

        var (qos2, deadLetter) = await DeadLetterOneQos2MessageBetweenTwoDeliveredAsync(publisher);
        Assert.Equal((qos2.Sequence, DeadLetterReason.MaxDeliveryAttemptsExceeded), (deadLetter.Sequence, deadLetter.Reason));
        Assert.NotEmpty(Broker.LogLinesContaining("Too high QoS in PUBLISH"));
    }

    /// <summary>A maximum of QoS 0 (declared, so the lower of it and the CONNACK's counts): every message goes out once.</summary>
    [Fact]
    public async Task Downgrade_to_QoS_0_removes_each_message_before_it_is_sent_once()
    {
        var options = Options();
        options.QosAboveMaximum = QosAboveMaximum.Downgrade;
        options.BrokerMaximumQos = MqttQualityOfServiceLevel.AtMostOnce;
        var publisher = await StartPublisherAsync(options);

        var receipts = new List<PublishReceipt>();
        for (var i = 0; i < 10; i++)
            receipts.Add(await publisher.PublishAsync("sf/data", Payload(i), i % 2 == 0 ? MqttQualityOfServiceLevel.AtLeastOnce : MqttQualityOfServiceLevel.ExactlyOnce));
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [.. receipts], exactlyOnce: true);
        var publishes = PublishesFromPublisher();
        Assert.Equal(10, publishes.Count);
        Assert.All(publishes, p => Assert.Contains(", q0,", p, StringComparison.Ordinal));
        Assert.Equal(10, publisher.Status.Downgraded);
        Assert.Equal(0, publisher.Status.PendingMessages);
    }

    /// <summary>Publishes QoS 1, QoS 2, QoS 1; the QoS 1 messages must arrive, and the QoS 2 one be the only dead letter.</summary>
    private async Task<(PublishReceipt Qos2, DeadLetter DeadLetter)> DeadLetterOneQos2MessageBetweenTwoDeliveredAsync(StoreForwardPublisher publisher)
    {
        var first = await publisher.PublishAsync("sf/data", Payload(0));
        var qos2 = await publisher.PublishAsync("sf/data", Payload(99), MqttQualityOfServiceLevel.ExactlyOnce);
        var last = await publisher.PublishAsync("sf/data", Payload(1));
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [first, last], exactlyOnce: true);
        return (qos2, Assert.Single(await publisher.GetDeadLettersAsync()));
    }
}
