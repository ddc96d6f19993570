namespace StoreForward.Session;

/// <summary>
/// The "sent" mark and its lead over the sends. The store recovers every message up to the mark as possibly sent, so a
/// QoS 2 message may go out for the first time only once a mark covering it is durable (see <see cref="SessionTurn"/>).
/// Kept about a window ahead of the first sends and moved on once half of that lead is used, the mark is durable, or on
/// its way in an earlier commit, when a send needs it: the send does not wait for its own turn's commit.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item><see cref="Mark"/> never falls, never passes what is loaded into memory, and is recorded in a commit before any
/// message above the durable mark is sent (QoS 1 aside, which may be sent twice anyway).</item>
/// <item>A restart resends every message up to the mark with DUP=1. For a message of the lead that never went out, that
/// is only a flag, so the lead costs no duplicate; it only makes recovery read up to a window more.</item>
/// <item>Commits land in the order they were handed over, so the first pending commit whose mark covers a sequence is
/// the earliest moment that sequence may go out.</item>
/// </list>
/// </remarks>
internal sealed class SentMarkLead(long durableMark)
{
    private readonly Queue<(long Mark, Task<bool> Commit)> _pending = new();
    private long _durableMark = durableMark;

    /// <summary>The highest mark recorded, or handed to the writer to record.</summary>
    public long Mark { get; private set; } = durableMark;

    /// <summary>Whether a first send of <paramref name="sequence"/> needs a mark that no commit records yet.</summary>
    public bool IsBeyond(long sequence) => sequence > Mark;

    /// <summary>
    /// The pending commit whose mark first covers <paramref name="sequence"/>, or null when a durable mark covers it. A
    /// failed commit stays pending, so whatever depends on it fails with it.
    /// </summary>
    public Task<bool>? PendingCovering(long sequence)
    {
        while (_pending.TryPeek(out var oldest) && oldest.Commit.IsCompletedSuccessfully)
            _durableMark = _pending.Dequeue().Mark;
        if (sequence <= _durableMark)
            return null;
        foreach (var (mark, commit) in _pending)
        {
            if (mark >= sequence)
                return commit;
        }

        return null;
    }

    /// <summary>
    /// The mark to record after first sends up to <paramref name="highestSent"/>, with messages loaded up to
    /// <paramref name="loadedThrough"/>: a window past the sends once half the lead is used, else null (nothing to record).
    /// </summary>
    public long? Advance(long highestSent, long loadedThrough, int window)
    {
        if (highestSent == 0 || highestSent <= Mark - (window / 2))
            return null;
        Mark = Math.Max(Mark, Math.Max(highestSent, Math.Min(loadedThrough, highestSent + window)));
        return Mark;
    }

    /// <summary><paramref name="commit"/> records the mark that <see cref="Advance"/> returned last.</summary>
    public void RecordedBy(Task<bool> commit) => _pending.Enqueue((Mark, commit));
}
