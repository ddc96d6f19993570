using System.Text;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Transport;

/// <summary>The encoded size of a PUBLISH packet as this library sends it, to compare with the broker's Maximum Packet Size.</summary>
internal static class PublishPacketSize
{
    /// <param name="topic">The topic.</param>
    /// <param name="payloadLength">The payload's length.</param>
    /// <param name="qos">The QoS: a packet id is sent from QoS 1 on.</param>
    /// <param name="version">The protocol: only MQTT 5 has a property block.</param>
    /// <param name="propertyBytes">The MQTT 5 properties' encoded bytes, without the block's length.</param>
    public static long Of(string topic, int payloadLength, MqttQualityOfServiceLevel qos, MqttProtocolVersion version, long propertyBytes = 0)
    {
        long remaining = 2 + Encoding.UTF8.GetByteCount(topic)
            + (qos == MqttQualityOfServiceLevel.AtMostOnce ? 0 : 2)
            + (version == MqttProtocolVersion.V500 ? VariableByteIntegerLength(propertyBytes) + propertyBytes : 0)
            + payloadLength;
        return 1 + VariableByteIntegerLength(remaining) + remaining;
    }

    private static int VariableByteIntegerLength(long value) =>
        value switch
        {
            < 128 => 1,
            < 16_384 => 2,
            < 2_097_152 => 3,
            _ => 4,
        };
}
