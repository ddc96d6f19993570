using LiteDB;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

// Appending messages, and coalescing them per topic.
internal sealed partial class OutboxStore
{
    /// <summary>Stores a new message and returns its sequence.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="payload">The payload.</param>
    /// <param name="qos">The QoS.</param>
    /// <param name="retain">The retain flag.</param>
    /// <param name="now">When it is stored.</param>
    /// <param name="expiresAt">When it expires, if it does.</param>
    /// <param name="properties">Its MQTT 5 properties, if any.</param>
    /// <param name="coalesce">Whether it supersedes the topic's previous message while that one was never sent.</param>
    public long Append(
        string topic, ReadOnlySpan<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset now,
        DateTimeOffset? expiresAt = null, MessageProperties? properties = null, bool coalesce = false)
    {
        if (coalesce && Supersedable(topic) is { } older && Remove(older))
            _staged.Superseded++;
        var sequence = _staged.NextSequence++;
        var size = OutboxMessage.StoredSize(topic, payload.Length);

        // A coalesced message gets a segment of its own, so that superseding it deletes a document instead of leaving a bit
        // in the removed set: superseded messages are spread over the whole backlog, and their bits would never go.
        if (_appending is { } full && (coalesce || !full.HasRoomFor(size) || _appendingCoalesced))
            InsertAppending();
        _appending ??= new OutboxSegment(sequence);
        _appending.Add(topic, payload, qos, retain, now, expiresAt, properties, _cipher);
        _appendingCoalesced = coalesce;
        if (coalesce)
            Latest.Upsert(new BsonDocument { ["_id"] = Tenant.LatestId(TopicIndex(topic)), ["s"] = sequence, ["f"] = _appending.First });
        _staged.Count++;
        _staged.Bytes += size;
        if (_staged.Count == 1)
            _headChanged = true;
        _dirty = true;
        return sequence;
    }

    /// <summary>
    /// The topic's previous coalesced message when a coalesced append would replace it: it is live and was never sent
    /// (above the "sent" mark and never read by the delivery session). Only the newest value of a current-value topic
    /// waits out an outage.
    /// </summary>
    public OutboxMessage? Supersedable(string topic)
    {
        if (Latest.FindById(Tenant.LatestId(TopicIndex(topic))) is not { } latest)
            return null;
        var sequence = latest["s"].AsInt64;
        var first = latest["f"].AsInt64;
        if (sequence <= Math.Max(_staged.SentThrough, _handedOutThrough) || _removed.Contains(sequence))
            return null;
        if (_appending?.First == first)
            InsertAppending();
        try
        {
            return _messages.FindById(first) is { } segment ? OutboxSegment.MessageAt(segment, (int)(sequence - first), _cipher) : null;
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            // Unreadable: not replaced, but set aside when a read reaches it.
            return null;
        }
    }

    /// <summary>How the store keys a coalesced topic: the topic, or with encryption a keyed hash of it.</summary>
    private string TopicIndex(string topic) => _cipher?.TopicIndex(topic) ?? topic;

    private void InsertAppending()
    {
        if (_appending is null)
            return;
        var document = _appending.ToDocument();

        // Every live message is in this segment, so it is the head: known without reading it back.
        if (_headSegment is null && _staged.Count == _appending.Count)
            _headSegment = HeadOf(document);
        _messages.Insert(document);
        _newest = _appending.Bytes <= NewestKeptBytes ? (_appending.First, _appending.Count, document) : null;
        _appending = null;
        _appendingCoalesced = false;
    }
}
