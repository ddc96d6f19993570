using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace StoreForward.Transport;

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
    /// The QoS a message published with <paramref name="published"/> is sent with: its own, or with
    /// <paramref name="downgrade"/> at most the broker's maximum. A QoS above the maximum is left as it is, for the session
    /// to refuse.
    /// </summary>
    public MqttQualityOfServiceLevel SendQos(MqttQualityOfServiceLevel published, bool downgrade) =>
        downgrade && published > MaximumQos ? MaximumQos : published;
}
