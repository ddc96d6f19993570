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

    /// <summary>
    /// What the store's marks said about the message when it was read (unsent, sent, or its PUBREC recorded); set by the
    /// store as it reads. The delivery session keeps its own, changing delivery state in its flight
    /// record.
    /// </summary>
    public StoredMark Mark { get; internal set; }

    /// <summary>
    /// On how many connections after the first the message was resent, as stored (see
    /// <see cref="StoreForwardOptions.MaxDeliveryAttempts"/>); set by the store as it reads.
    /// </summary>
    public int Attempts { get; internal set; }

    /// <summary>When the message expires: it is never sent after that. Null: it never expires.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The MQTT 5 properties it carries, or null when it has none.</summary>
    public MessageProperties? Properties { get; init; }

    /// <summary>The first sequence of the stored segment that holds this message (see <see cref="OutboxSegment"/>).</summary>
    public long SegmentFirst { get; init; } = sequence;

    /// <summary>How many messages that segment holds, removed ones included.</summary>
    public int SegmentLength { get; init; } = 1;

    /// <summary>Bytes this message counts for in <see cref="OutboxStatus.PendingBytes"/>.</summary>
    public long Size { get; init; } = StoredSize(topic, payload.Length);

    /// <summary>This message set aside with <paramref name="reason"/>: the whole message, for inspection and requeue.</summary>
    public DeadLetter ToDeadLetter(DeadLetterReason reason, int? reasonCode, string detail) =>
        new(Sequence, Topic, reason, reasonCode, detail, Payload, Qos, Retain, StoredAt);

    public static long StoredSize(string topic, int payloadLength) => System.Text.Encoding.UTF8.GetByteCount(topic) + (long)payloadLength;

    public override string ToString() => $"#{Sequence} {Topic} q{(int)Qos} {Mark}";
}
