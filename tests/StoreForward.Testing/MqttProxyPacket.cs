using System.Globalization;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// One whole MQTT control packet as seen by <see cref="MqttTcpProxy"/>. The decoded fields are
/// the ones store-and-forward tests assert on (packet identifiers, DUP, QoS); everything else
/// can be read from <see cref="Raw"/>.
/// </summary>
/// <param name="Direction">Which way the packet was travelling.</param>
/// <param name="Type">Packet type nibble (fixed header byte &gt;&gt; 4), see <see cref="MqttPacketType"/>.</param>
/// <param name="Flags">Flags nibble (fixed header byte &amp; 0x0F).</param>
/// <param name="Raw">The complete packet bytes, fixed header included, exactly as received.</param>
/// <param name="PacketId">
/// Packet identifier for PUBLISH (only when QoS &gt; 0), PUBACK, PUBREC, PUBREL, PUBCOMP,
/// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK; null when absent or unreadable.
/// </param>
/// <param name="Timestamp">When the proxy finished reading the packet.</param>
/// <param name="ConnectionId">Sequence number of the proxied TCP connection (1, 2, ...): tells reconnects apart.</param>
public sealed record MqttProxyPacket(
    MqttProxyDirection Direction,
    int Type,
    int Flags,
    ReadOnlyMemory<byte> Raw,
    ushort? PacketId,
    DateTimeOffset Timestamp,
    int ConnectionId)
{
    /// <summary>DUP flag of a PUBLISH (flags &amp; 8): set when the client re-sends an unacknowledged message.</summary>
    public bool Dup => Type == MqttPacketType.Publish && (Flags & 0x08) != 0;

    /// <summary>QoS of a PUBLISH ((flags &gt;&gt; 1) &amp; 3); 0 for every other packet type.</summary>
    public int Qos => Type == MqttPacketType.Publish ? (Flags >> 1) & 0x03 : 0;

    /// <summary>RETAIN flag of a PUBLISH (flags &amp; 1).</summary>
    public bool Retain => Type == MqttPacketType.Publish && (Flags & 0x01) != 0;

    /// <summary>Topic name of a PUBLISH; null for other packets (or an empty name with a v5 topic alias).</summary>
    public string? Topic { get; init; }

    /// <summary>
    /// Reason/return code where the packet carries one: CONNACK (return code), PUBACK/PUBREC/PUBREL/PUBCOMP
    /// (MQTT 5 only, null when omitted which means Success) and DISCONNECT (MQTT 5).
    /// Mosquitto answers an MQTT 5 publish that matched no subscriber with PUBACK 0x10, for instance.
    /// </summary>
    public byte? ReasonCode { get; init; }

    /// <summary>
    /// Receive Maximum property of an MQTT 5 CONNECT (client's limit) or CONNACK (broker's limit);
    /// null when the property is absent, which the spec defines as 65535.
    /// </summary>
    public ushort? ReceiveMaximum { get; init; }

    /// <summary>Client identifier from the CONNECT of this connection, when it has been seen.</summary>
    public string? ClientId { get; init; }

    /// <summary>True when the proxy did not forward the packet (a Drop filter matched or <see cref="MqttTcpProxy.BlackHole"/> was on).</summary>
    public bool Dropped { get; init; }

    public string TypeName => MqttPacketType.Name(Type);

    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var arrow = Direction == MqttProxyDirection.ClientToBroker ? "C->B" : "B->C";
        var text = string.Create(inv, $"#{ConnectionId} {arrow} {TypeName}");
        if (Type == MqttPacketType.Publish)
        {
            text += string.Create(inv, $" q{Qos} d{(Dup ? 1 : 0)} r{(Retain ? 1 : 0)} '{Topic}'");
        }

        if (PacketId is { } id)
        {
            text += string.Create(inv, $" id={id}");
        }

        if (ReasonCode is { } rc)
        {
            text += string.Create(inv, $" rc=0x{rc:X2}");
        }

        if (ReceiveMaximum is { } receiveMaximum)
        {
            text += string.Create(inv, $" receive-max={receiveMaximum}");
        }

        return Dropped ? text + " (dropped)" : text;
    }
}
