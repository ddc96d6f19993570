namespace StoreForward.Outbox;

/// <summary>Committed counters of the outbox, published by the writer thread after each commit.</summary>
/// <param name="PendingMessages">Messages in the outbox.</param>
/// <param name="PendingBytes">Their topic and payload bytes.</param>
/// <param name="OldestSequence">Sequence of the oldest message, or 0 when empty.</param>
/// <param name="OldestStoredAt">When the oldest message was stored, or null when empty.</param>
/// <param name="LastSequence">The highest sequence ever committed (0 before the first).</param>
/// <param name="DeadLetters">Messages in the dead-letter collection.</param>
/// <param name="Dropped">Messages dropped unsent by <see cref="OverflowPolicy.DropOldest"/>, over the store's life.</param>
/// <param name="Expired">Messages that expired before they were sent, over the store's life.</param>
/// <param name="Superseded">Unsent messages replaced by a newer one on their coalesced topic, over the store's life.</param>
internal sealed record OutboxSnapshot(
    long PendingMessages,
    long PendingBytes,
    long OldestSequence,
    DateTimeOffset? OldestStoredAt,
    long LastSequence,
    long DeadLetters,
    long Dropped,
    long Expired,
    long Superseded)
{
    /// <summary>Whether every message up to and including <paramref name="sequence"/> has left the outbox.</summary>
    public bool HasDrainedThrough(long sequence) => PendingMessages == 0 || OldestSequence > sequence;

    /// <summary>
    /// How long the oldest message has waited at <paramref name="now"/>, or null when the outbox is empty. The stored time
    /// is wall-clock time (it must survive a restart), so a clock stepped back could make the age negative: it is zero then.
    /// </summary>
    public TimeSpan? OldestAgeAt(DateTimeOffset now) =>
        OldestStoredAt is { } oldest ? TimeSpan.FromTicks(Math.Max(0, (now - oldest).Ticks)) : null;
}
