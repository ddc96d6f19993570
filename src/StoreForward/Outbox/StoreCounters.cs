namespace StoreForward.Outbox;

/// <summary>
/// The store's counters: those of its header (<see cref="MetaDocument"/>), as committed or as an open batch changes
/// them, and the head of the queue, which is read from the oldest segment.
/// </summary>
internal struct StoreCounters
{
    /// <summary>The sequence the next message gets; sequences grow strictly for the life of the file.</summary>
    public long NextSequence;

    /// <summary>The "sent" mark: no message above it was ever sent.</summary>
    public long SentThrough;

    /// <summary>Messages stored.</summary>
    public long Count;

    /// <summary>Their topic and payload bytes.</summary>
    public long Bytes;

    public long DeadLetters;

    /// <summary>Messages dropped unsent by <see cref="OverflowPolicy.DropOldest"/>, over the store's life.</summary>
    public long Dropped;

    /// <summary>Messages that expired before they were sent, over the store's life.</summary>
    public long Expired;

    /// <summary>Unsent messages replaced by a newer one on their coalesced topic, over the store's life.</summary>
    public long Superseded;

    /// <summary>The broker whose session the stored delivery state belongs to (see <see cref="OutboxStore.SessionServer"/>).</summary>
    public string? SessionServer;

    /// <summary>The oldest message's sequence, 0 when empty: not in the header, read from the oldest segment.</summary>
    public long OldestSequence;

    /// <summary>When the oldest message was stored, null when empty: not in the header either.</summary>
    public DateTimeOffset? OldestStoredAt;

    /// <summary>Whether the header's counters are the same; the head is not compared, as it is not stored.</summary>
    public readonly bool SameHeaderAs(in StoreCounters other) =>
        NextSequence == other.NextSequence && SentThrough == other.SentThrough && Count == other.Count && Bytes == other.Bytes
        && DeadLetters == other.DeadLetters && Dropped == other.Dropped && Expired == other.Expired && Superseded == other.Superseded
        && SessionServer == other.SessionServer;
}
