using LiteDB;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// Messages appended in one batch, stored as one document: <c>{ _id: first sequence, m: [ { t, p, q, r, ts }, ... ] }</c>,
/// the sequences following one another from the first. LiteDB's cost is per document (an index node, a page slot, about
/// 10 KB of allocations), not per byte, and it was about 55 µs of the writer thread per message to insert and later delete
/// one document per message; a segment pays that once for up to <see cref="MaxMessages"/> messages.
/// </summary>
/// <remarks>
/// A document of format version 2 (one message, its fields at the top level) reads as a segment of one, so a version 2
/// store needs no conversion. A segment is deleted whole once all its messages are removed; until then the store keeps
/// the removed ones in a <see cref="SequenceSet"/>.
/// </remarks>
internal sealed class OutboxSegment(long first)
{
    /// <summary>
    /// Bounds a segment's messages: a read that starts inside a segment decodes the part before it again, and a segment's
    /// removed messages wait in the meta document until the last one goes.
    /// </summary>
    public const int MaxMessages = 256;

    /// <summary>Bounds a segment's payload bytes for the same reasons; a larger message gets a segment of its own.</summary>
    public const long MaxBytes = 1024 * 1024;

    private const string MessagesKey = "m";

    private readonly BsonArray _messages = [];
    private long _bytes;

    public long First { get; } = first;

    public int Count => _messages.Count;

    public bool HasRoomFor(long size) => _messages.Count < MaxMessages && _bytes + size <= MaxBytes;

    public void Add(string topic, ReadOnlySpan<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset now, DateTimeOffset? expiresAt, MessageProperties? properties)
    {
        _messages.Add(Fields(topic, payload, qos, retain, now, expiresAt, properties));
        _bytes += OutboxMessage.StoredSize(topic, payload.Length);
    }

    /// <summary>
    /// A message's stored fields, the same in a segment and in the dead letters: topic, payload, QoS, retain, stored-at,
    /// and only when set the expiry (<c>x</c>, UTC ticks) and the MQTT 5 properties.
    /// </summary>
    public static BsonDocument Fields(string topic, ReadOnlySpan<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset storedAt, DateTimeOffset? expiresAt, MessageProperties? properties)
    {
        var fields = new BsonDocument
        {
            ["t"] = topic,
            ["p"] = payload.ToArray(),
            ["q"] = (int)qos,
            ["r"] = retain,
            ["ts"] = storedAt.UtcTicks,
        };
        if (expiresAt is { } expiry)
            fields["x"] = expiry.UtcTicks;
        properties?.WriteTo(fields);
        return fields;
    }

    /// <summary>When the message in <paramref name="fields"/> expires, if it does.</summary>
    private static DateTimeOffset? ExpiresAtOf(BsonDocument fields) =>
        fields.TryGetValue("x", out var expiry) ? new DateTimeOffset(expiry.AsInt64, TimeSpan.Zero) : null;

    public BsonDocument ToDocument() => new() { ["_id"] = First, [MessagesKey] = _messages };

    /// <summary>The first sequence of a stored segment.</summary>
    public static long FirstOf(BsonDocument segment) => segment["_id"].AsInt64;

    /// <summary>How many messages a stored segment holds: a version 2 document holds one.</summary>
    public static int LengthOf(BsonDocument segment) =>
        segment.TryGetValue(MessagesKey, out var messages) ? messages.AsArray.Count : 1;

    /// <summary>When each message of a stored segment was stored, in UTC ticks.</summary>
    public static long[] StoredAtTicks(BsonDocument segment)
    {
        var ticks = new long[LengthOf(segment)];
        for (var index = 0; index < ticks.Length; index++)
            ticks[index] = Fields(segment, index)["ts"].AsInt64;
        return ticks;
    }

    /// <summary>The message at <paramref name="index"/> of a stored segment.</summary>
    public static OutboxMessage MessageAt(BsonDocument segment, int index)
    {
        var fields = Fields(segment, index);
        var first = FirstOf(segment);
        return new OutboxMessage(
            first + index,
            fields["t"].AsString,
            fields["p"].AsBinary,
            (MqttQualityOfServiceLevel)fields["q"].AsInt32,
            fields["r"].AsBoolean,
            new DateTimeOffset(fields["ts"].AsInt64, TimeSpan.Zero))
        {
            State = DeliveryState.Queued,
            SegmentFirst = first,
            SegmentLength = LengthOf(segment),
            ExpiresAt = ExpiresAtOf(fields),
            Properties = MessageProperties.ReadFrom(fields),
        };
    }

    private static BsonDocument Fields(BsonDocument segment, int index) =>
        segment.TryGetValue(MessagesKey, out var messages) ? messages.AsArray[index].AsDocument : segment;
}
