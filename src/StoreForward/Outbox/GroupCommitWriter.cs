using System.Collections.Concurrent;

namespace StoreForward.Outbox;

/// <summary>
/// Owns the <see cref="OutboxStore"/> on one dedicated thread and runs every store operation there. Whatever queued up
/// while the previous commit was being fsync'd goes into the next transaction, so concurrent publishers share one commit
/// and one fsync (group commit). LiteDB has no async API and binds transactions to a thread, which is why this is a thread
/// and not a task.
/// </summary>
/// <remarks>
/// Invariants: a work item completes only after the commit holding it is durable; a failed batch is rolled back whole and
/// every item in it fails with the cause; publishes that wait for room (<see cref="OverflowPolicy.Wait"/>) run in the
/// order they came, before any later publish, as soon as the committed outbox has room for the oldest of them; after
/// <see cref="DisposeAsync"/> begins, new work is refused with <see cref="ObjectDisposedException"/>, queued work still runs
/// before the store closes, and publishes still waiting for room fail.
/// </remarks>
internal sealed class GroupCommitWriter : IAsyncDisposable
{
    /// <summary>Bounds one transaction, so that a burst cannot build a commit of unbounded size.</summary>
    internal const int MaxBatchItems = 1024;

    /// <summary>Bounds the payload bytes of one transaction for the same reason: large payloads fill it sooner.</summary>
    internal const long MaxBatchBytes = 8 * 1024 * 1024;

    private readonly BlockingCollection<StoreWork> _queue = new();
    private readonly OutboxStore _store;
    private readonly TimeProvider _time;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<StoreWork> _batch = new(MaxBatchItems);

    // What RunBatch executed (the batch minus what went to wait), and the publishes waiting for room, oldest first.
    private readonly List<StoreWork> _executed = new(MaxBatchItems);
    private readonly Queue<StoreWork> _waitingForRoom = new();

    // What users know as the owner of this writer, for ObjectDisposedException.
    private const string Owner = "StoreForwardPublisher";

    private readonly ICommitObserver? _observer;
    private readonly TimeSpan _commitInterval;

    /// <param name="store">The store this writer owns from now on.</param>
    /// <param name="time">The clock for commit times and the commit interval.</param>
    /// <param name="observer">Told about every commit that wrote something, for the metrics.</param>
    /// <param name="commitInterval">
    /// How long a batch that holds a publish keeps taking work before it commits (zero: commit at once). Publishes that
    /// arrive one by one then share one fsync instead of paying one each: fewer bytes written per message, later receipts.
    /// </param>
    public GroupCommitWriter(OutboxStore store, TimeProvider time, ICommitObserver? observer = null, TimeSpan commitInterval = default)
    {
        _store = store;
        _time = time;
        _observer = observer;
        _commitInterval = commitInterval;
        _thread = new Thread(Run) { IsBackground = true, Name = "StoreForward outbox writer" };
        _thread.Start();
    }

    /// <summary>Raised on the writer thread after each commit that changed the store. Keep handlers short.</summary>
    public event Action<OutboxSnapshot>? Committed;

    /// <summary>
    /// Raised on the writer thread with the encrypted messages a committed batch set aside because they failed their
    /// integrity check (see <see cref="OutboxStore.TakeSetAside"/>).
    /// </summary>
    public event Action<IReadOnlyList<DeadLetter>>? SetAside;

    public OutboxSnapshot Snapshot => _store.Snapshot;

    public string StorePath => _store.FilePath;

    /// <summary>Why the last batch failed, until a batch succeeds again; null when the last one succeeded.</summary>
    public string? LastFailure
    {
        get => Volatile.Read(ref _lastFailure);
        private set => Volatile.Write(ref _lastFailure, value);
    }

    private string? _lastFailure;

    /// <summary>Commits made so far; with the store's fsync count it shows group commit at work.</summary>
    public long CommitCount { get; private set; }

    public long SyncCount => _store.SyncCount;

    public void Enqueue(StoreWork work)
    {
        try
        {
            _queue.Add(work);
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(Owner, "The publisher is shutting down; the outbox takes no more work.");
        }
    }

    /// <summary>Runs <paramref name="operation"/> on the writer thread inside a batch and returns once it is durable.</summary>
    public Task<T> RunAsync<T>(Func<OutboxStore, T> operation)
    {
        var work = new StoreWork<T>(operation);
        Enqueue(work);
        return work.Task;
    }

    private void Run()
    {
        try
        {
            while (TakeBatch())
            {
                RunBatch();
                _batch.Clear();
                _executed.Clear();
            }
        }
        finally
        {
            var stopped = new ObjectDisposedException(Owner, "The publisher was disposed while the publish waited for room in the outbox; nothing was stored.");
            while (_waitingForRoom.TryDequeue(out var waiting))
                waiting.Fail(stopped);
            _stopped.TrySetResult();
        }
    }

    /// <summary>
    /// Takes what is queued into the batch, first blocking for new work unless a waiting publish fits now; false once the
    /// queue is completed and empty.
    /// </summary>
    private bool TakeBatch()
    {
        var bytes = 0L;
        if (!OldestWaitingFits())
        {
            if (!_queue.TryTake(out var first, Timeout.Infinite))
                return false;
            _batch.Add(first);
            bytes = first.Bytes;
        }

        while (_batch.Count < MaxBatchItems && bytes < MaxBatchBytes && _queue.TryTake(out var next))
        {
            _batch.Add(next);
            bytes += next.Bytes;
        }

        if (_commitInterval > TimeSpan.Zero && _batch.Exists(work => work is AppendWork))
            TakeUntilIntervalEnds(bytes);
        return true;
    }

    /// <summary>
    /// Keeps taking work into a batch that holds a publish until the commit interval has passed on the injected clock, the
    /// batch is full, or the writer is stopping.
    /// </summary>
    private void TakeUntilIntervalEnds(long bytes)
    {
        using var intervalEnds = new CancellationTokenSource(_commitInterval, _time);
        try
        {
            while (_batch.Count < MaxBatchItems && bytes < MaxBatchBytes && _queue.TryTake(out var next, Timeout.Infinite, intervalEnds.Token))
            {
                _batch.Add(next);
                bytes += next.Bytes;
            }
        }
        catch (OperationCanceledException) when (intervalEnds.IsCancellationRequested)
        {
            // The interval is over: commit what was taken.
        }
    }

    private bool OldestWaitingFits() => _waitingForRoom.TryPeek(out var oldest) && !oldest.WaitsForRoom(_store, othersWait: false);

    private void RunBatch()
    {
        bool changed;
        var reached = 0;
        var began = false;
        var startedAt = _time.GetTimestamp();
        try
        {
            _store.BeginBatch();
            began = true;

            // Waiting publishes are older than anything taken now, so they go first, as far as there is room.
            while (_executed.Count < MaxBatchItems && OldestWaitingFits())
                Execute(_waitingForRoom.Dequeue());
            while (reached < _batch.Count)
            {
                var work = _batch[reached++];
                if (work.WaitsForRoom(_store, othersWait: _waitingForRoom.Count > 0))
                    _waitingForRoom.Enqueue(work);
                else
                    Execute(work);
            }

            changed = _store.CommitBatch();
        }
        catch (Exception error)
        {
            var outcomeKnown = true;
            try
            {
                outcomeKnown = _store.RollbackBatch();
            }
            catch (Exception rollbackError)
            {
                error = new AggregateException(error, rollbackError);
            }

            var failure = new OutboxStoreException(
                _store.FilePath,
                outcomeKnown
                    ? $"the commit failed and nothing in it was stored ({error.Message})."
                    : $"the commit failed while it was being written, so whether it reached the disk is unknown; its messages may still be delivered ({error.Message}).",
                error);
            LastFailure = failure.Message;
            foreach (var work in _executed)
                work.Fail(failure);

            // Work the failed batch never reached fails with it. A batch that could not even begin has a store that takes no
            // more work, so the publishes waiting for room fail too instead of retrying forever.
            for (var i = reached; i < _batch.Count; i++)
                _batch[i].Fail(failure);
            while (!began && _waitingForRoom.TryDequeue(out var waiting))
                waiting.Fail(failure);

            // After a reopen the counters come from the disk; whoever shows them must see those.
            Committed?.Invoke(_store.Snapshot);
            return;
        }

        var committedAt = _time.GetUtcNow();
        LastFailure = null;
        if (changed)
        {
            CommitCount++;
            Report(_time.GetElapsedTime(startedAt));
        }

        foreach (var work in _executed)
            work.Complete(committedAt);
        if (changed)
            Committed?.Invoke(_store.Snapshot);
        if (changed && _store.TakeSetAside() is { Count: > 0 } setAside)
            SetAside?.Invoke(setAside);
    }

    private void Report(TimeSpan commitDuration)
    {
        if (_observer is null)
            return;
        int published = 0, dropped = 0;
        foreach (var work in _executed)
        {
            if (work is AppendWork append)
            {
                published += append.Stored ? 1 : 0;
                dropped += append.DroppedCount;
            }
        }

        _observer.Committed(commitDuration, published, dropped);
    }

    private void Execute(StoreWork work)
    {
        _executed.Add(work);
        work.Execute(_store);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.CompleteAdding();
        await _stopped.Task.ConfigureAwait(false);
        _store.Dispose();
        _queue.Dispose();
    }
}
