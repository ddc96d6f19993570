using LiteDB;

namespace StoreForward.Outbox;

// Reading messages for the session and the tool.
internal sealed partial class OutboxStore
{
    /// <summary>Reads up to <paramref name="max"/> messages with a sequence above <paramref name="afterSequence"/>, in order.</summary>
    public List<OutboxMessage> ReadAfter(long afterSequence, int max)
    {
        InsertAppending();

        // Without a read that ended there, the segment holding the next message starts at most a segment's length before it.
        var from = _readEnd is { } end && end.Through == afterSequence ? end.NextSegment : afterSequence - OutboxSegment.MaxMessages + 1;

        // Nothing was ever stored above the last sequence handed out; and what follows afterSequence may all be in the
        // newest segment, which this store wrote and keeps. Neither needs a query: a session that keeps up with its
        // publisher reads each message right after it was written, and then finds nothing more.
        var messages = afterSequence >= _staged.NextSequence - 1 ? []
            : _newest is { } newest && afterSequence + 1 >= newest.First && newest.First + newest.Length == _staged.NextSequence
                ? ReadLive([newest.Document], afterSequence, max)
                : ReadLive(_messages.From(from), afterSequence, max);
        if (messages.Count > 0)
        {
            // The segments just read exist: their removal needs no lookup (see TryCountLive).
            foreach (var message in messages)
            {
                if (!_liveInSegment.ContainsKey(message.SegmentFirst))
                    _liveInSegment[message.SegmentFirst] = LiveIn(message);
            }

            var last = messages[^1];
            _readEnd = (last.Sequence, last.Sequence == last.SegmentFirst + last.SegmentLength - 1 ? last.Sequence + 1 : last.SegmentFirst);
            _handedOutThrough = Math.Max(_handedOutThrough, last.Sequence);
        }

        return messages;
    }

    /// <summary>Up to <paramref name="max"/> live messages above <paramref name="after"/> of <paramref name="segments"/>, in order.</summary>
    private List<OutboxMessage> ReadLive(IEnumerable<BsonDocument> segments, long after, int max)
    {
        var messages = LiveMessages(segments, after, long.MaxValue).Take(max).ToList();
        SetAsideUnreadable();
        return messages;
    }

    /// <summary>
    /// Reads every stored message that may have been sent: the in-flight head of the queue, each
    /// <see cref="StoredMark.PubrecRecorded"/> when its PUBREC was recorded and <see cref="StoredMark.Sent"/> otherwise.
    /// </summary>
    public List<OutboxMessage> ReadSentRegion()
    {
        InsertAppending();
        var sentThrough = _committed.SentThrough;
        _handedOutThrough = Math.Max(_handedOutThrough, sentThrough);
        List<OutboxMessage> messages = [.. LiveMessages(_messages.Through(sentThrough), 0, sentThrough).Select(WithStoredState)];
        SetAsideUnreadable();
        return messages;
    }

    /// <summary>Sets the delivery state and resend count that the store recorded for <paramref name="message"/>.</summary>
    private OutboxMessage WithStoredState(OutboxMessage message)
    {
        message.Mark = message.Sequence > _committed.SentThrough ? StoredMark.Unsent
            : _released.Contains(message.Sequence) ? StoredMark.PubrecRecorded : StoredMark.Sent;
        message.Attempts = _attempts.GetValueOrDefault(message.Sequence);
        return message;
    }

    /// <summary>
    /// Every live message, oldest first, with its delivery state as stored, read lazily one segment at a time: for tools
    /// that inspect a store no publisher has open, never for the delivery session.
    /// </summary>
    /// <remarks>
    /// Messages that fail their check are skipped and counted (<see cref="UnreadableSkipped"/>), not set aside: a tool
    /// that only reads changes nothing.
    /// </remarks>
    public IEnumerable<OutboxMessage> ReadAll()
    {
        _unreadable.Clear();
        foreach (var message in LiveMessages(_messages.All(), 0, long.MaxValue))
            yield return WithStoredState(message);
    }

    /// <summary>How many messages the last <see cref="ReadAll"/>, as far as it was enumerated, skipped because they failed their check.</summary>
    public int UnreadableSkipped => _unreadable.Count;

    /// <summary>The live messages of <paramref name="segments"/> above <paramref name="after"/> and up to <paramref name="through"/>.</summary>
    private IEnumerable<OutboxMessage> LiveMessages(IEnumerable<BsonDocument> segments, long after, long through)
    {
        foreach (var segment in segments)
        {
            // A segment whose sequences cannot be read cannot have its messages counted out: it stays, verify reports
            // it, and the rest of the queue moves on.
            if (OutboxSegment.ShapeOf(segment, out var first, out var length) is not null)
                continue;

            for (var index = (int)Math.Max(0, after + 1 - first); index < length && first + index <= through; index++)
            {
                if (_removed.Contains(first + index))
                    continue;
                OutboxMessage message;
                try
                {
                    message = OutboxSegment.MessageAt(segment, index, _cipher);
                }
                catch (Exception e) when (StoredField.IsUnreadable(e))
                {
                    var record = OutboxSegment.TryFieldsAt(segment, index) ?? (BsonValue)new BsonDocument { ["raw"] = segment.TryGetValue("m", out var members) ? members : BsonValue.Null };
                    _unreadable.Add((OutboxSegment.Unreadable(segment, index), record, UnreadableDetail(e)));
                    continue;
                }

                yield return message;
            }
        }
    }
}
