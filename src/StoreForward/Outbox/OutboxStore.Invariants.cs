using System.Diagnostics;

namespace StoreForward.Outbox;

internal sealed partial class OutboxStore
{
    /// <summary>
    /// Checks, in DEBUG builds after every commit, the invariants of the class remarks that this class's own logic keeps:
    /// the batch is closed, sequences and the sent mark never go back, counters never go below zero, and the snapshot shows
    /// the commit. What a file brings with it is not checked here (a damaged or altered header can say anything): that is
    /// the operators' <c>storeforward verify</c>. The unit tests run once in a DEBUG build for this.
    /// </summary>
    /// <param name="before">The counters committed before this commit.</param>
    [Conditional("DEBUG")]
    private void AssertInvariants(in StoreCounters before)
    {
        var c = _committed;
        Debug.Assert(!_dirty && _appending is null, "A commit left its batch open.");
        Debug.Assert(c.NextSequence >= Math.Max(1, before.NextSequence), "Sequences went back: one could be handed out twice.");
        Debug.Assert(c.SentThrough >= before.SentThrough, "The sent mark went back: a message sent could be sent again as new.");
        Debug.Assert(c.Count >= 0 && c.Bytes >= 0 && c.DeadLetters >= 0, "A counter went below zero.");
        Debug.Assert(Snapshot.PendingMessages == c.Count && Snapshot.LastSequence == c.NextSequence - 1, "The published snapshot is not the commit.");
    }
}
