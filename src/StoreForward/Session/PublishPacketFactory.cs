using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Subscribing;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Builds the PUBLISH packets of one connection, and knows what this broker can take: the QoS a message goes out with
/// (its own, or the broker's maximum with <see cref="QosAboveMaximum.Downgrade"/>) and why a message can never be sent.
/// </summary>
/// <param name="link">The connection, for its protocol and the broker's limits.</param>
/// <param name="time">For what is left of a message's lifetime.</param>
/// <param name="downgrade">Whether messages above the broker's Maximum QoS are sent at it instead of dead-lettered.</param>
/// <param name="identity">The ClientId messages are stamped with (<see cref="StoreForwardOptions.StampMessageIdentity"/>), or null.</param>
internal sealed class PublishPacketFactory(IBrokerLink link, TimeProvider time, bool downgrade, string? identity)
{
    private readonly bool _v5 = link.ProtocolVersion == MqttProtocolVersion.V500;

    /// <summary>The QoS <paramref name="message"/> goes out with on this connection.</summary>
    public MqttQualityOfServiceLevel SendQos(OutboxMessage message) => link.Limits.SendQos(message.Qos, downgrade);

    /// <summary>Why the broker can never accept the PUBLISH of <paramref name="message"/> as this connection sends it, or null.</summary>
    public DeadLetter? Refused(OutboxMessage message)
    {
        var limits = link.Limits;
        var qos = SendQos(message);
        if (qos > limits.MaximumQos)
            return message.ToDeadLetter(DeadLetterReason.QosNotSupported, null,
                $"QoS {(int)qos} is above the broker's Maximum QoS {(int)limits.MaximumQos} (StoreForwardOptions.QosAboveMaximum = Downgrade sends it at QoS {(int)limits.MaximumQos} instead).");
        if (message.Retain && !limits.RetainAvailable)
            return message.ToDeadLetter(DeadLetterReason.RetainNotSupported, null,
                "The message is retained but the broker does not support retained messages.");

        // Properties, the expiry interval (identifier and 4 bytes) and the identity stamp count towards the size on MQTT 5.
        var propertyBytes = (message.Properties?.EncodedLength ?? 0) + (message.ExpiresAt is null ? 0 : 5)
            + (identity is null || !_v5 ? 0 : MessageIdentity.EncodedLength(identity, message.Sequence));
        var size = PublishPacketSize.Of(message.Topic, message.Payload.Length, qos, link.ProtocolVersion, propertyBytes);
        if (limits.MaximumPacketSize != 0 && size > limits.MaximumPacketSize)
            return message.ToDeadLetter(DeadLetterReason.PacketTooLarge, null,
                $"The PUBLISH packet is {size} bytes, above the broker's Maximum Packet Size of {limits.MaximumPacketSize} bytes.");
        return null;
    }

    /// <summary>
    /// The PUBLISH for a message; on MQTT 5 with its stored properties, what is left of its lifetime and, when stamping, its
    /// identity.
    /// </summary>
    public MqttPublishPacket Create(OutboxMessage message, bool dup)
    {
        var qos = SendQos(message);
        var packet = new MqttPublishPacket
        {
            Topic = message.Topic,
            PayloadSegment = message.Payload,
            QualityOfServiceLevel = qos,
            Retain = message.Retain,
            PacketIdentifier = qos == MqttQualityOfServiceLevel.AtMostOnce ? (ushort)0 : PacketIds.Of(message.Sequence),
            Dup = dup,
        };
        if (_v5)
        {
            message.Properties?.ApplyTo(packet);
            if (message.ExpiresAt is { } expiresAt)
                packet.MessageExpiryInterval = MessageExpiry.RemainingSeconds(expiresAt, time.GetUtcNow());
            if (identity is not null)
                (packet.UserProperties ??= []).AddRange(MessageIdentity.Stamp(identity, message.Sequence));
        }

        return packet;
    }
}
