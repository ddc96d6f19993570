using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>What the broker's CONNACK allows on this connection.</summary>
/// <param name="ReceiveMaximum">QoS 1/2 publishes the broker accepts unacknowledged (65,535 when it states none).</param>
/// <param name="MaximumQos">The highest QoS the broker accepts.</param>
/// <param name="RetainAvailable">Whether the broker keeps retained messages.</param>
/// <param name="MaximumPacketSize">Largest packet the broker accepts, or 0 for the protocol's limit.</param>
/// <param name="ServerKeepAlive">The keep-alive the broker imposes, if it overrides ours.</param>
/// <param name="SessionPresent">Whether the broker resumed our session.</param>
internal sealed record BrokerLimits(
    int ReceiveMaximum,
    MqttQualityOfServiceLevel MaximumQos,
    bool RetainAvailable,
    uint MaximumPacketSize,
    TimeSpan? ServerKeepAlive,
    bool SessionPresent)
{
    /// <summary>The limits of a CONNACK, with the Maximum QoS lowered to <paramref name="declaredMaximumQos"/> when given.</summary>
    public static BrokerLimits From(MqttConnAckPacket connAck, MqttProtocolVersion version, MqttQualityOfServiceLevel? declaredMaximumQos)
    {
        var declared = declaredMaximumQos ?? MqttQualityOfServiceLevel.ExactlyOnce;

        // MQTT 3.1.1 has none of these properties, and MQTTnet leaves them at values that would mean "nothing allowed".
        if (version != MqttProtocolVersion.V500)
            return new BrokerLimits(ushort.MaxValue, declared, true, 0, null, connAck.IsSessionPresent);

        return new BrokerLimits(
            connAck.ReceiveMaximum == 0 ? ushort.MaxValue : connAck.ReceiveMaximum,
            connAck.MaximumQoS < declared ? connAck.MaximumQoS : declared,
            connAck.RetainAvailable,
            connAck.MaximumPacketSize,
            connAck.ServerKeepAlive == 0 ? null : TimeSpan.FromSeconds(connAck.ServerKeepAlive),
            connAck.IsSessionPresent);
    }

    /// <summary>
    /// The QoS <paramref name="message"/> is sent with: its own, or with <paramref name="downgrade"/> at most the broker's
    /// maximum. A QoS above the maximum is left as it is, for <see cref="Refuses"/> to refuse.
    /// </summary>
    public MqttQualityOfServiceLevel SendQos(OutboxMessage message, bool downgrade) =>
        downgrade && message.Qos > MaximumQos ? MaximumQos : message.Qos;

    /// <summary>Why the broker can never accept <paramref name="message"/> on this connection, or null when it can.</summary>
    /// <param name="message">The message.</param>
    /// <param name="qos">The QoS it is sent with (<see cref="SendQos"/>).</param>
    /// <param name="version">The connection's protocol.</param>
    /// <param name="extraPropertyBytes">MQTT 5 properties the session adds to the message's own (its identity stamp).</param>
    public DeadLetter? Refuses(OutboxMessage message, MqttQualityOfServiceLevel qos, MqttProtocolVersion version, long extraPropertyBytes = 0)
    {
        if (qos > MaximumQos)
            return DeadLetter.Of(message, DeadLetterReason.QosNotSupported, null,
                $"QoS {(int)qos} is above the broker's Maximum QoS {(int)MaximumQos} (StoreForwardOptions.QosAboveMaximum = Downgrade sends it at QoS {(int)MaximumQos} instead).");
        if (message.Retain && !RetainAvailable)
            return DeadLetter.Of(message, DeadLetterReason.RetainNotSupported, null,
                "The message is retained but the broker does not support retained messages.");
        // Properties and the expiry interval (identifier and 4 bytes) count towards the size on MQTT 5.
        var propertyBytes = (message.Properties?.EncodedLength ?? 0) + (message.ExpiresAt is null ? 0 : 5) + extraPropertyBytes;
        var size = PublishPacketSize.Of(message.Topic, message.Payload.Length, qos, version, propertyBytes);
        if (MaximumPacketSize != 0 && size > MaximumPacketSize)
            return DeadLetter.Of(message, DeadLetterReason.PacketTooLarge, null,
                $"The PUBLISH packet is {size} bytes, above the broker's Maximum Packet Size of {MaximumPacketSize} bytes.");
        return null;
    }
}
