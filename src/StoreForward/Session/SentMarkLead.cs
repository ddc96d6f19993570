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
/// <item>A mark that waits for the next commit (<see cref="Cover"/>) covers only sends that never wait for it, and is
/// recorded at the latest when the session ends.</item>
/// <item>Commits land in the order they were handed over, so the first pending commit whose mark covers a sequence is
/// the earliest moment that sequence may go out.</item>
/// </list>
/// </remarks>
internal sealed class SentMarkLead(long durableMark)
{
    private readonly Queue<(long Mark, Task<bool> Commit)> _pending = new();
    private long _durableMark = durableMark;

    // The highest first send whose mark waits for the session's next commit (see Cover); 0 when none waits.
    private long _unmarkedFirstSent;

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
    /// Moves the mark over the first sends of <paramref name="turn"/> and of earlier turns that let it wait. A turn that
    /// would commit nothing but the mark, for sends that do not wait for it (QoS 0 and 1, or QoS 2 a durable mark
    /// covers), lets it wait (<paramref name="mayWait"/>) for the session's next commit: the PUBACK's removal, or the
    /// session's end, which passes false, so a new session still finds every message this one sent below the mark. A
    /// publisher that sends one message at a time saves a commit per message that way. Only a crash loses a waiting mark;
    /// its QoS 1 messages are then sent again as first sends, which QoS 1 allows.
    /// </summary>
    public void Cover(SessionTurn turn, long loadedThrough, int window, bool mayWait)
    {
        var highest = Math.Max(_unmarkedFirstSent, turn.HighestFirstSent);
        if (mayWait && !turn.HasChanges && !turn.PublishesWaitForCommit && turn.WaitForEarlierCommit is null)
        {
            _unmarkedFirstSent = highest;
            return;
        }

        if (Advance(highest, loadedThrough, window) is { } mark)
            turn.MarkSentThrough(mark);
        _unmarkedFirstSent = 0;
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
