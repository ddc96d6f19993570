using LiteDB;

namespace StoreForward.Outbox;

// The head of the queue and the snapshot published after each commit.
internal sealed partial class OutboxStore
{
    /// <summary>Finds the oldest live message: the first one of the oldest segment that is not removed.</summary>
    private void RefreshHead()
    {
        _staged.OldestSequence = 0;
        _staged.OldestStoredAt = null;

        // An empty store has no head to look for: a publisher that sends as fast as it publishes empties it every message.
        if (_staged.Count == 0)
            return;
        _headSegment ??= _messages.From(0, 1).FirstOrDefault() is { } oldest ? HeadOf(oldest) : null;
        if (_headSegment is not { } head)
            return;

        var (first, storedAt) = head;
        for (var index = 0; index < storedAt.Length; index++)
        {
            if (!_removed.Contains(first + index))
            {
                _staged.OldestSequence = first + index;
                _staged.OldestStoredAt = new DateTimeOffset(storedAt[index], TimeSpan.Zero);
                return;
            }
        }
    }

    /// <summary>
    /// The oldest segment's first sequence and store times. A segment too damaged to read them has no age to report; the
    /// commits that refresh the head must go on regardless.
    /// </summary>
    private static (long First, long[] StoredAtTicks) HeadOf(BsonDocument oldest)
    {
        try
        {
            return (OutboxSegment.FirstOf(oldest), OutboxSegment.StoredAtTicks(oldest));
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            return (0, []);
        }
    }

    private void PublishSnapshot() =>
        Snapshot = new OutboxSnapshot(
            _committed.Count,
            _committed.Bytes,
            _committed.OldestSequence,
            _committed.OldestStoredAt,
            _committed.NextSequence - 1,
            _committed.DeadLetters,
            _committed.Dropped,
            _committed.Expired,
            _committed.Superseded);
}
