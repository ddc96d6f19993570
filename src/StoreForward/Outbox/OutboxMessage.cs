using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// A message loaded from the outbox. Immutable content plus the delivery state, which only the session engine changes,
/// always persisting the change before it acts on it.
/// </summary>
internal sealed class OutboxMessage(
    long sequence,
    string topic,
    byte[] payload,
    MqttQualityOfServiceLevel qos,
    bool retain,
    DateTimeOffset storedAt)
{
    public long Sequence { get; } = sequence;

    public string Topic { get; } = topic;

    public byte[] Payload { get; } = payload;

    public MqttQualityOfServiceLevel Qos { get; } = qos;

    public bool Retain { get; } = retain;

    public DateTimeOffset StoredAt { get; } = storedAt;

    /// <summary>The MQTT packet id while in flight; 0 while <see cref="DeliveryState.Queued"/>.</summary>
    public ushort PacketId { get; set; }

    public DeliveryState State { get; set; }

    /// <summary>Bytes this message counts for in <see cref="OutboxStatus.PendingBytes"/>.</summary>
    public long Size => StoredSize(Topic, Payload.Length);

    public static long StoredSize(string topic, int payloadLength) => System.Text.Encoding.UTF8.GetByteCount(topic) + (long)payloadLength;

    public override string ToString() => $"#{Sequence} {Topic} q{(int)Qos} {State} id {PacketId}";
}
