using System.Buffers.Binary;
using System.Security.Cryptography;
using LiteDB;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// Messages appended in one batch, stored as one document: <c>{ _id: first sequence, m: [ { t, p, q, r, ts }, ... ] }</c>
/// (encrypted: <c>{ q, r, ts, z, e }</c>, see <see cref="RecordCipher"/>),
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
    private const string TopicKey = "t";
    private const string PayloadKey = "p";
    private const string SizeKey = "z";
    private const string SealedKey = "e";
    private const int AssociatedDataLength = 34;

    private readonly BsonArray _messages = [];
    private long _bytes;

    public long First { get; } = first;

    public int Count => _messages.Count;

    /// <summary>The topic and payload bytes of its messages.</summary>
    public long Bytes => _bytes;

    public bool HasRoomFor(long size) => _messages.Count < MaxMessages && _bytes + size <= MaxBytes;

    /// <summary>Adds the next message (sequence <see cref="First"/> + <see cref="Count"/>), encrypted when a cipher is given.</summary>
    public void Add(string topic, ReadOnlySpan<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset now, DateTimeOffset? expiresAt, MessageProperties? properties, RecordCipher? cipher)
    {
        _messages.Add(Fields(First + _messages.Count, topic, payload, qos, retain, now, expiresAt, properties, cipher));
        _bytes += OutboxMessage.StoredSize(topic, payload.Length);
    }

    /// <summary>
    /// A message's stored fields, the same in a segment and in the dead letters: topic, payload, QoS, retain, stored-at,
    /// and only when set the expiry (<c>x</c>, UTC ticks) and the MQTT 5 properties. With a cipher, the topic, payload and
    /// properties are sealed into <c>e</c>, and <c>z</c> keeps the size the store counts for the message.
    /// </summary>
    public static BsonDocument Fields(
        long sequence, string topic, ReadOnlySpan<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset storedAt,
        DateTimeOffset? expiresAt, MessageProperties? properties, RecordCipher? cipher)
    {
        var secret = new BsonDocument { [TopicKey] = topic, [PayloadKey] = payload.ToArray() };
        var fields = cipher is null ? secret : [];
        fields["q"] = (int)qos;
        fields["r"] = retain;
        fields["ts"] = storedAt.UtcTicks;
        if (expiresAt is { } expiry)
            fields["x"] = expiry.UtcTicks;
        properties?.WriteTo(secret);
        if (cipher is not null)
        {
            fields[SizeKey] = OutboxMessage.StoredSize(topic, payload.Length);
            fields[SealedKey] = cipher.Seal(sequence, AssociatedData(sequence, fields), BsonSerializer.Serialize(secret));
        }

        return fields;
    }

    /// <summary>
    /// What a sealed record is bound to besides its content: its sequence and the fields kept in clear. Changing any of
    /// them, or moving the record to another sequence, makes it fail to decrypt.
    /// </summary>
    private static byte[] AssociatedData(long sequence, BsonDocument fields)
    {
        var data = new byte[AssociatedDataLength];
        BinaryPrimitives.WriteInt64BigEndian(data, sequence);
        data[8] = (byte)StoredField.Int32(fields["q"], "q", 0, 2);
        data[9] = StoredField.Boolean(fields["r"], "r") ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(10), StoredField.Int64(fields["ts"], "ts"));
        BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(18), fields.TryGetValue("x", out var expiry) ? StoredField.Int64(expiry, "x") : 0);
        BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(26), StoredField.Int64(fields[SizeKey], SizeKey));
        return data;
    }

    /// <summary>When the message in <paramref name="fields"/> expires, if it does.</summary>
    private static DateTimeOffset? ExpiresAtOf(BsonDocument fields) =>
        fields.TryGetValue("x", out var expiry) ? StoredField.Time(expiry, "x") : null;

    public BsonDocument ToDocument() => new() { ["_id"] = First, [MessagesKey] = _messages };

    /// <summary>The first sequence of a stored segment.</summary>
    public static long FirstOf(BsonDocument segment) => StoredField.Int64(segment["_id"], "_id");

    /// <summary>The first sequence and the length of a stored segment; null, or the error that makes it unreadable.</summary>
    public static Exception? ShapeOf(BsonDocument segment, out long first, out int length)
    {
        try
        {
            first = FirstOf(segment);
            length = LengthOf(segment);
            return null;
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            (first, length) = (0, 0);
            return e;
        }
    }

    /// <summary>How many messages a stored segment holds: a version 2 document holds one.</summary>
    public static int LengthOf(BsonDocument segment) =>
        segment.TryGetValue(MessagesKey, out var messages) ? StoredField.Array(messages, MessagesKey).Count : 1;

    /// <summary>When each message of a stored segment was stored, in UTC ticks.</summary>
    public static long[] StoredAtTicks(BsonDocument segment)
    {
        var ticks = new long[LengthOf(segment)];
        for (var index = 0; index < ticks.Length; index++)
            ticks[index] = StoredField.Time(FieldsAt(segment, index)["ts"], "ts").UtcTicks;
        return ticks;
    }

    /// <summary>
    /// The message at <paramref name="index"/> of a stored segment. A sealed record needs the cipher, and throws a
    /// <see cref="CryptographicException"/> when it fails its check (see <see cref="Unreadable"/>).
    /// </summary>
    public static OutboxMessage MessageAt(BsonDocument segment, int index, RecordCipher? cipher)
    {
        var fields = FieldsAt(segment, index);
        var first = FirstOf(segment);
        var content = fields;
        if (fields.TryGetValue(SealedKey, out var sealedRecord))
        {
            if (cipher is null)
                throw new CryptographicException($"Message {first + index} is encrypted, and no encryption key is given.");
            content = BsonSerializer.Deserialize(cipher.Open(StoredField.Binary(sealedRecord, SealedKey), AssociatedData(first + index, fields)));
        }

        // A damaged record must not reach the broker as an invalid PUBLISH.
        var topic = StoredField.String(content[TopicKey], TopicKey);
        Transport.MqttStrings.ValidateTopic(topic);
        return new OutboxMessage(
            first + index,
            topic,
            StoredField.Binary(content[PayloadKey], PayloadKey),
            (MqttQualityOfServiceLevel)StoredField.Int32(fields["q"], "q", 0, 2),
            StoredField.Boolean(fields["r"], "r"),
            StoredField.Time(fields["ts"], "ts"))
        {
            Mark = StoredMark.Unsent,
            SegmentFirst = first,
            SegmentLength = LengthOf(segment),
            ExpiresAt = ExpiresAtOf(fields),
            Properties = MessageProperties.ReadFrom(content),
        };
    }

    /// <summary>
    /// A sealed message that failed its check, as far as its clear fields tell (which may be altered too): no topic, no
    /// payload, and the size it was counted with, so that removing it keeps the store's byte count.
    /// </summary>
    public static OutboxMessage Unreadable(BsonDocument segment, int index)
    {
        var first = FirstOf(segment);
        var fields = TryFieldsAt(segment, index) ?? [];
        return new OutboxMessage(
            first + index,
            "",
            [],
            StoredField.Or(() => (MqttQualityOfServiceLevel)StoredField.Int32(fields["q"], "q", 0, 2), MqttQualityOfServiceLevel.AtMostOnce),
            StoredField.Or(() => StoredField.Boolean(fields["r"], "r"), false),
            StoredField.Or(() => StoredField.Time(fields["ts"], "ts"), DateTimeOffset.UnixEpoch))
        {
            SegmentFirst = first,
            SegmentLength = LengthOf(segment),

            // The size it was counted with: a sealed record keeps it in clear; a plain one counts topic and payload.
            Size = StoredField.Or(
                () => StoredField.Int64(fields[SizeKey], SizeKey),
                StoredField.Or(() => System.Text.Encoding.UTF8.GetByteCount(StoredField.String(fields[TopicKey], TopicKey)), 0)
                    + StoredField.Or(() => StoredField.Binary(fields[PayloadKey], PayloadKey).Length, 0)),
        };
    }

    /// <summary>The member's fields when it is a document at all, else null.</summary>
    public static BsonDocument? TryFieldsAt(BsonDocument segment, int index) => StoredField.Or(() => FieldsAt(segment, index), null);

    /// <summary>The stored fields of the message at <paramref name="index"/>, as they are.</summary>
    public static BsonDocument FieldsAt(BsonDocument segment, int index) =>
        segment.TryGetValue(MessagesKey, out var messages) ? StoredField.Document(StoredField.Array(messages, MessagesKey)[index], MessagesKey) : segment;
}
