namespace StoreForward.Outbox;

/// <summary>
/// What the <see cref="GroupCommitWriter"/> reports after each commit that wrote something, for the publisher's metrics:
/// the outbox names what it measures, and the diagnostics decide how to record it.
/// </summary>
internal interface ICommitObserver
{
    /// <param name="duration">The commit's time, fsync included.</param>
    /// <param name="published">Messages it stored.</param>
    /// <param name="dropped">Unsent messages it dropped for room (<see cref="OverflowPolicy.DropOldest"/>).</param>
    void Committed(TimeSpan duration, int published, int dropped);
}
