using System.Buffers.Binary;
using System.Text;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// The <see cref="MqttTcpProxy"/>'s reading of the byte stream: cuts it into whole MQTT packets and takes from each what
/// tests look at (type, flags, packet id, topic, reason code, client id, Receive Maximum). It never needs to understand
/// more than that: the raw bytes are forwarded unchanged.
/// </summary>
internal static class MqttProxyDecoder
{
    /// <summary>
    /// Reads one MQTT packet: 1 byte type/flags, 1..4 bytes "remaining length" (7 bits per
    /// byte, high bit = continuation), then that many bytes. Returns null on a clean EOF
    /// before the first byte of a packet.
    /// </summary>
    internal static async Task<byte[]?> ReadPacketAsync(Stream input, byte[] header, CancellationToken token)
    {
        if (await input.ReadAsync(header.AsMemory(0, 1), token).ConfigureAwait(false) == 0)
        {
            return null;
        }

        var remaining = 0;
        var multiplier = 1;
        var headerLength = 1;
        byte encoded;
        do
        {
            if (headerLength == 5)
            {
                throw new InvalidDataException("MQTT remaining length longer than 4 bytes.");
            }

            await input.ReadExactlyAsync(header.AsMemory(headerLength, 1), token).ConfigureAwait(false);
            encoded = header[headerLength];
            remaining += (encoded & 0x7F) * multiplier;
            multiplier *= 128;
            headerLength++;
        }
        while ((encoded & 0x80) != 0);

        var raw = new byte[headerLength + remaining];
        header.AsSpan(0, headerLength).CopyTo(raw);
        await input.ReadExactlyAsync(raw.AsMemory(headerLength), token).ConfigureAwait(false);
        return raw;
    }

    /// <summary>
    /// What <see cref="MqttProxyPacket"/> tells of <paramref name="raw"/> (one whole packet from
    /// <see cref="ReadPacketAsync"/>), read on connection <paramref name="connectionId"/>. A CONNECT carries its client
    /// id (null when unreadable), which the caller keeps and passes back as <paramref name="clientId"/> for the
    /// connection's later packets.
    /// </summary>
    internal static MqttProxyPacket Decode(byte[] raw, MqttProxyDirection direction, int connectionId, string? clientId)
    {
        var type = raw[0] >> 4;
        var flags = raw[0] & 0x0F;
        var bodyStart = 1;
        while ((raw[bodyStart] & 0x80) != 0)
        {
            bodyStart++;
        }

        bodyStart++;
        var body = raw.AsSpan(bodyStart);

        ushort? packetId = null;
        string? topic = null;
        byte? reasonCode = null;
        ushort? receiveMaximum = null;

        switch (type)
        {
            case MqttPacketType.Connect:
                clientId = TryReadConnect(body, out receiveMaximum);
                break;

            case MqttPacketType.ConnAck when body.Length >= 2:
                reasonCode = body[1];

                // Only MQTT 5 CONNACKs have anything after the return code: the properties.
                if (body.Length > 2)
                {
                    receiveMaximum = TryReadReceiveMaximum(body[2..]);
                }

                break;

            case MqttPacketType.Publish when body.Length >= 2:
                var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
                if (body.Length >= 2 + topicLength)
                {
                    topic = Encoding.UTF8.GetString(body.Slice(2, topicLength));
                    var qos = (flags >> 1) & 0x03;
                    if (qos > 0 && body.Length >= 2 + topicLength + 2)
                    {
                        packetId = BinaryPrimitives.ReadUInt16BigEndian(body[(2 + topicLength)..]);
                    }
                }

                break;

            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp when body.Length >= 2:
                packetId = BinaryPrimitives.ReadUInt16BigEndian(body);
                if (body.Length >= 3)
                {
                    reasonCode = body[2];
                }

                break;

            case MqttPacketType.Subscribe or MqttPacketType.SubAck or MqttPacketType.Unsubscribe or MqttPacketType.UnsubAck when body.Length >= 2:
                packetId = BinaryPrimitives.ReadUInt16BigEndian(body);
                break;

            case MqttPacketType.Disconnect when body.Length >= 1:
                reasonCode = body[0];
                break;
        }

        return new MqttProxyPacket(direction, type, flags, raw, packetId, DateTimeOffset.UtcNow, connectionId)
        {
            Topic = topic,
            ReasonCode = reasonCode,
            ReceiveMaximum = receiveMaximum,
            ClientId = clientId,
        };
    }

    /// <summary>
    /// Reads the client id (and, for MQTT 5, the Receive Maximum property) of a CONNECT.
    /// Layout: protocol name (u16 length + bytes), level, flags, keep-alive (u16), MQTT 5 only:
    /// properties (varint length + bytes), then the client id (u16 length + UTF-8).
    /// </summary>
    private static string? TryReadConnect(ReadOnlySpan<byte> body, out ushort? receiveMaximum)
    {
        receiveMaximum = null;
        try
        {
            var offset = 2 + BinaryPrimitives.ReadUInt16BigEndian(body);
            var level = body[offset];
            offset += 1 + 1 + 2;
            if (level == 5)
            {
                var propertiesStart = offset;
                var propertiesLength = ReadVarInt(body, ref propertiesStart);
                receiveMaximum = TryReadReceiveMaximum(body[offset..]);
                offset = propertiesStart + propertiesLength;
            }

            var idLength = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
            return Encoding.UTF8.GetString(body.Slice(offset + 2, idLength));
        }
        catch (Exception ex) when (ex is IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>
    /// Finds property 0x21 (Receive Maximum) in an MQTT 5 property block (varint length, then
    /// id/value pairs). Null when absent, which per the spec means 65535.
    /// </summary>
    private static ushort? TryReadReceiveMaximum(ReadOnlySpan<byte> propertyBlock)
    {
        try
        {
            var offset = 0;
            var length = ReadVarInt(propertyBlock, ref offset);
            var end = offset + length;
            while (offset < end)
            {
                var id = propertyBlock[offset++];
                switch (id)
                {
                    case 0x21:
                        return BinaryPrimitives.ReadUInt16BigEndian(propertyBlock[offset..]);

                    // Byte properties.
                    case 0x01 or 0x17 or 0x19 or 0x24 or 0x25 or 0x28 or 0x29 or 0x2A:
                        offset += 1;
                        break;

                    // Two byte integers.
                    case 0x13 or 0x22 or 0x23:
                        offset += 2;
                        break;

                    // Four byte integers.
                    case 0x02 or 0x11 or 0x18 or 0x27:
                        offset += 4;
                        break;

                    // Variable byte integer (subscription identifier).
                    case 0x0B:
                        ReadVarInt(propertyBlock, ref offset);
                        break;

                    // UTF-8 strings and binary data: u16 length + bytes.
                    case 0x03 or 0x08 or 0x09 or 0x12 or 0x15 or 0x16 or 0x1A or 0x1C or 0x1F:
                        offset += 2 + BinaryPrimitives.ReadUInt16BigEndian(propertyBlock[offset..]);
                        break;

                    // User property: two strings.
                    case 0x26:
                        offset += 2 + BinaryPrimitives.ReadUInt16BigEndian(propertyBlock[offset..]);
                        offset += 2 + BinaryPrimitives.ReadUInt16BigEndian(propertyBlock[offset..]);
                        break;

                    default:
                        return null;
                }
            }

            return null;
        }
        catch (Exception ex) when (ex is IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private static int ReadVarInt(ReadOnlySpan<byte> data, ref int offset)
    {
        var value = 0;
        var multiplier = 1;
        byte encoded;
        do
        {
            encoded = data[offset++];
            value += (encoded & 0x7F) * multiplier;
            multiplier *= 128;
        }
        while ((encoded & 0x80) != 0);
        return value;
    }
}
