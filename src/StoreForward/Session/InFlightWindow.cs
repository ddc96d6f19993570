namespace StoreForward.Session;

/// <summary>
/// How much of one connection's window is in use: the messages awaiting an answer, less those still to be resent after the
/// reconnect, plus acknowledged messages whose removal is not durable yet beyond one window of them.
/// </summary>
/// <remarks>
/// A crash resends every acknowledged message whose removal is not on disk. Up to one window of them is free; beyond that
/// they take window slots, so the broker holds at most two windows of messages that the store still keeps, and a crash
/// causes at most that many QoS 1 duplicates however slow the disk. One free window keeps the drain from waiting for each
/// fsync.
/// </remarks>
internal sealed class InFlightWindow(SessionState state, int size)
{
    private readonly Queue<Flight> _resend = new();
    private int _acknowledgementsNotDurable;

    /// <summary>Most publishes this connection keeps unacknowledged.</summary>
    public int Size => size;

    /// <summary>Publishes sent on this connection and not answered yet.</summary>
    public int Outstanding => state.InFlightCount - _resend.Count;

    /// <summary>Whether messages in flight before this connection wait to be sent again.</summary>
    public bool HasResends => _resend.Count > 0;

    /// <summary>Slots in use, counting <paramref name="acknowledgedThisTurn"/> acknowledgements not yet handed to the writer.</summary>
    public int Used(int acknowledgedThisTurn) =>
        Outstanding + Math.Max(0, _acknowledgementsNotDurable + acknowledgedThisTurn - size);

    /// <summary>Queues what was in flight before this connection, in sequence order, to be sent again first.</summary>
    public void Resend(IEnumerable<Flight> inFlight)
    {
        foreach (var flight in inFlight)
            _resend.Enqueue(flight);
    }

    public Flight NextResend() => _resend.Dequeue();

    /// <summary>A commit of <paramref name="count"/> acknowledged messages' removals was handed to the writer.</summary>
    public void AcknowledgementsCommitting(int count) => _acknowledgementsNotDurable += count;

    /// <summary>That commit landed (or failed, which ends the session anyway).</summary>
    public void AcknowledgementsDurable(int count) => _acknowledgementsNotDurable -= count;
}
