using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Hand-encoded MQTT 3.1.1 packets for tests that need behaviour no well-behaved client library
/// produces on demand, e.g. re-sending a PUBLISH with DUP=1 and the same packet id to check how
/// the broker (and its log) treats a retransmission.
/// </summary>
public static class RawMqtt
{
    /// <summary>CONNECT, protocol level 4 (3.1.1), no will, no credentials.</summary>
    public static byte[] Connect311(string clientId, bool cleanSession, ushort keepAliveSeconds = 60)
    {
        var body = new List<byte>();
        AppendString(body, "MQTT");
        body.Add(4);
        body.Add(cleanSession ? (byte)0x02 : (byte)0x00);
        body.Add((byte)(keepAliveSeconds >> 8));
        body.Add((byte)keepAliveSeconds);
        AppendString(body, clientId);
        return Frame(0x10, body);
    }

    /// <summary>PUBLISH with explicit QoS, packet id and DUP/RETAIN flags.</summary>
    public static byte[] Publish(string topic, byte[] payload, int qos, ushort packetId, bool dup = false, bool retain = false)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentOutOfRangeException.ThrowIfNegative(qos);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(qos, 2);

        var body = new List<byte>();
        AppendString(body, topic);
        if (qos > 0)
        {
            body.Add((byte)(packetId >> 8));
            body.Add((byte)packetId);
        }

        body.AddRange(payload);
        var header = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
        return Frame((byte)header, body);
    }

    /// <summary>PUBACK / PUBREC / PUBCOMP (flags 0) or PUBREL (flags 2, as the spec requires) for a packet id.</summary>
    public static byte[] Ack(int packetType, ushort packetId)
    {
        var header = (packetType << 4) | (packetType == MqttPacketType.PubRel ? 0x02 : 0);
        return Frame((byte)header, [(byte)(packetId >> 8), (byte)packetId]);
    }

    /// <summary>DISCONNECT (3.1.1: no body).</summary>
    public static byte[] Disconnect() => [0xE0, 0x00];

    private static void AppendString(List<byte> body, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        body.Add((byte)(bytes.Length >> 8));
        body.Add((byte)bytes.Length);
        body.AddRange(bytes);
    }

    /// <summary>Fixed header + variable-length "remaining length" (7 bits per byte, high bit = more) + body.</summary>
    private static byte[] Frame(byte header, List<byte> body)
    {
        var packet = new List<byte>(body.Count + 5) { header };
        var remaining = body.Count;
        do
        {
            var encoded = (byte)(remaining % 128);
            remaining /= 128;
            if (remaining > 0)
            {
                encoded |= 0x80;
            }

            packet.Add(encoded);
        }
        while (remaining > 0);

        packet.AddRange(body);
        return packet.ToArray();
    }
}
