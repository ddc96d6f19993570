namespace StoreForward.Session;

/// <summary>
/// Since when the broker owes an answer with none arriving, for <see cref="StoreForwardOptions.AckTimeout"/>. The loop
/// restarts it when the broker answered or a first message became outstanding; the sender stops it from counting while it
/// holds packets back for the disk, since the broker cannot answer what has not gone out; the watchdog reads it on its
/// timer. Three threads, hence the interlocked timestamp.
/// </summary>
internal sealed class AckClock(TimeProvider time)
{
    // A timestamp, or 0 while nothing is outstanding.
    private long _since;
    private volatile bool _waitingForDisk;

    /// <summary>Called by the loop after each turn: restarts the clock when <paramref name="answered"/> or when the first message became outstanding.</summary>
    public void Track(int outstanding, bool answered)
    {
        var since = Interlocked.Read(ref _since);
        if (outstanding == 0)
            since = 0;
        else if (answered || since == 0)
            since = time.GetTimestamp();
        Interlocked.Exchange(ref _since, since);
    }

    /// <summary>
    /// Called by the sender: time it holds packets back for the disk does not count, neither while it lasts nor after (the
    /// clock restarts when it ends, unless the loop stopped or restarted it meanwhile).
    /// </summary>
    public void WaitingForDisk(bool waiting)
    {
        if (waiting || !_waitingForDisk)
        {
            _waitingForDisk = waiting;
            return;
        }

        var since = Interlocked.Read(ref _since);
        if (since != 0)
            Interlocked.CompareExchange(ref _since, time.GetTimestamp(), since);
        _waitingForDisk = false;
    }

    /// <summary>Whether the broker has owed an answer for <paramref name="timeout"/> while nothing waited for the disk.</summary>
    public bool HasExceeded(TimeSpan timeout)
    {
        var since = Interlocked.Read(ref _since);
        return since != 0 && !_waitingForDisk && time.GetElapsedTime(since) >= timeout;
    }
}
