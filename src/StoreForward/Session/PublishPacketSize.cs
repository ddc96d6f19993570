using System.Text;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Session;

/// <summary>The encoded size of a PUBLISH packet as this library sends it, to compare with the broker's Maximum Packet Size.</summary>
internal static class PublishPacketSize
{
    public static long Of(string topic, int payloadLength, MqttQualityOfServiceLevel qos, MqttProtocolVersion version)
    {
        long remaining = 2 + Encoding.UTF8.GetByteCount(topic)
            + (qos == MqttQualityOfServiceLevel.AtMostOnce ? 0 : 2)
            + (version == MqttProtocolVersion.V500 ? 1 : 0) // empty property block: its length byte
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
