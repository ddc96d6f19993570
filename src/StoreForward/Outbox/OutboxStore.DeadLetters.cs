using LiteDB;

namespace StoreForward.Outbox;

// Dead letters: moved aside, listed, requeued and purged.
internal sealed partial class OutboxStore
{
    /// <summary>Moves a message to the dead-letter collection.</summary>
    public void MoveToDeadLetters(OutboxMessage message, DeadLetter deadLetter)
    {
        var document = OutboxSegment.Fields(message.Sequence, message.Topic, message.Payload, message.Qos, message.Retain, message.StoredAt, message.ExpiresAt, message.Properties, _cipher);
        document["_id"] = message.Sequence;
        document["reason"] = (int)deadLetter.Reason;
        document["code"] = deadLetter.ReasonCode is { } code ? code : BsonValue.Null;
        document["detail"] = deadLetter.Detail;
        _deadLetters.Insert(document);
        _staged.DeadLetters++;
        Remove(message);
    }

    /// <summary>Reads up to <paramref name="max"/> dead letters above <paramref name="afterSequence"/>, oldest first.</summary>
    public List<DeadLetter> ReadDeadLetters(long afterSequence, int max) =>
        [.. _deadLetters.From(afterSequence + 1, max).Select(ToDeadLetter)];

    /// <summary>Every dead letter with the message it holds, oldest first, read lazily: for tools, like <see cref="ReadAll"/>.</summary>
    public IEnumerable<(OutboxMessage Message, DeadLetter Letter)> ReadAllDeadLetters() =>
        _deadLetters.All().Select(d =>
        {
            var decoded = ToMessageOrError(d);
            return (decoded.Message, ToDeadLetter(d, decoded));
        });

    /// <summary>
    /// A dead letter: the message's fields as a segment stores them, keyed by its sequence, and why it is here. One that
    /// fails its check reads as <see cref="DeadLetterReason.Unreadable"/>, without topic or payload.
    /// </summary>
    private DeadLetter ToDeadLetter(BsonDocument d) => ToDeadLetter(d, ToMessageOrError(d));

    /// <summary>The same, for a dead letter whose message is decoded already.</summary>
    private static DeadLetter ToDeadLetter(BsonDocument d, (OutboxMessage Message, Exception? Error) decoded)
    {
        var (message, error) = decoded;
        try
        {
            var reason = (DeadLetterReason)StoredField.Int32(d["reason"], "reason", 1, (int)DeadLetterReason.Unreadable);
            var code = d["code"].IsNull ? (int?)null : StoredField.Int32(d["code"], "code", 0, 255);
            var detail = StoredField.String(d["detail"], "detail");
            if (error is null || reason == DeadLetterReason.Unreadable)
                return message.ToDeadLetter(reason, code, detail);
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            error ??= e;
        }

        return message.ToDeadLetter(DeadLetterReason.Unreadable, null, UnreadableDetail(error));
    }

    /// <summary>
    /// The message a dead letter holds, read as a segment of one (its fields are a segment member's); one that fails its
    /// check reads as <see cref="OutboxSegment.Unreadable"/>.
    /// </summary>
    private OutboxMessage ToMessage(BsonDocument deadLetter) => ToMessageOrError(deadLetter).Message;

    private (OutboxMessage Message, Exception? Error) ToMessageOrError(BsonDocument deadLetter)
    {
        try
        {
            return (OutboxSegment.MessageAt(deadLetter, 0, _cipher), null);
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            return (OutboxSegment.Unreadable(deadLetter, 0), e);
        }
    }

    /// <summary>The dead letters with the given sequences (all when null), oldest first; unknown sequences are skipped.</summary>
    private List<BsonDocument> FindDeadLetters(IReadOnlyCollection<long>? sequences) =>
        sequences is null
            ? [.. _deadLetters.All()]
            : [.. sequences.Distinct().Order().Select(s => _deadLetters.FindById(s)).OfType<BsonDocument>()];

    /// <summary>Deletes the dead letters with the given sequences (all when null); returns how many were deleted.</summary>
    public int PurgeDeadLetters(IReadOnlyCollection<long>? sequences)
    {
        var purged = sequences is null ? _deadLetters.DeleteAll() : sequences.Distinct().Count(s => _deadLetters.Delete(s));
        _staged.DeadLetters -= purged;
        _dirty |= purged > 0;
        return purged;
    }

    /// <summary>
    /// Moves the dead letters with the given sequences (all when null) back into the outbox as new messages at its end,
    /// oldest first, keeping when each was first stored. Returns the new sequences in that order, or null, moving nothing,
    /// when they do not all fit under <paramref name="limits"/> (a requeue drops nothing and does not wait), with how many
    /// messages and bytes were to move.
    /// </summary>
    public (List<long>? Sequences, int Messages, long Bytes) RequeueDeadLetters(IReadOnlyCollection<long>? sequences, OutboxLimits limits)
    {
        // A message that failed its check cannot be delivered: it stays a dead letter.
        var messages = FindDeadLetters(sequences).Select(ToMessage).Where(m => m.Topic.Length > 0).ToList();
        var bytes = messages.Sum(m => m.Size);
        if (!limits.Fits(_staged.Count, _staged.Bytes, messages.Count, bytes))
            return (null, messages.Count, bytes);

        var requeued = new List<long>(messages.Count);
        foreach (var message in messages)
        {
            requeued.Add(Append(message.Topic, message.Payload, message.Qos, message.Retain, message.StoredAt, message.ExpiresAt, message.Properties));
            _deadLetters.Delete(message.Sequence);
            _staged.DeadLetters--;
        }

        return (requeued, messages.Count, bytes);
    }
}
