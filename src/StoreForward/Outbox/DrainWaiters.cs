namespace StoreForward.Outbox;

/// <summary>
/// The callers of <see cref="StoreForwardPublisher.FlushAsync"/>, each waiting until the outbox has drained through the
/// last sequence committed when it called.
/// </summary>
internal sealed class DrainWaiters
{
    private readonly Lock _lock = new();
    private readonly List<(long Through, TaskCompletionSource Completion)> _waiters = [];
    private Exception? _closed;

    /// <summary>Callers still waiting.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _waiters.Count;
        }
    }

    public Task WaitAsync(Func<OutboxSnapshot> current, CancellationToken cancellationToken)
    {
        var through = current().LastSequence;
        if (current().HasDrainedThrough(through))
            return Task.CompletedTask;

        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = (through, completion);
        lock (_lock)
        {
            if (_closed is not null)
                return Task.FromException(_closed);
            _waiters.Add(waiter);
        }

        // A commit may have drained the outbox between the first check and the registration; look once more.
        OnCommitted(current());
        if (!cancellationToken.CanBeCanceled)
            return completion.Task;

        // A cancelled wait leaves no entry behind: the outbox may never drain.
        var registration = cancellationToken.Register(() =>
        {
            lock (_lock)
                _waiters.Remove(waiter);
            completion.TrySetCanceled(cancellationToken);
        });
        _ = completion.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return completion.Task;
    }

    /// <summary>Releases the waiters that <paramref name="snapshot"/> satisfies.</summary>
    public void OnCommitted(OutboxSnapshot snapshot)
    {
        lock (_lock)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (!snapshot.HasDrainedThrough(_waiters[i].Through))
                    continue;
                _waiters[i].Completion.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>Fails every current and future waiter with <paramref name="reason"/>.</summary>
    public void Close(Exception reason)
    {
        lock (_lock)
        {
            _closed = reason;
            foreach (var (_, completion) in _waiters)
                completion.TrySetException(reason);
            _waiters.Clear();
        }
    }
}
