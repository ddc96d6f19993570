using System.Collections.Concurrent;

namespace StoreForward.Outbox;

/// <summary>
/// Owns the <see cref="OutboxStore"/> and runs every store operation in batches, one batch at a time, on the threads of
/// <see cref="OutboxThreads"/>. Whatever queued up while the previous commit was being fsync'd goes into the next
/// transaction, so concurrent publishers share one commit and one fsync (group commit).
/// </summary>
/// <remarks>
/// Invariants: a work item completes only after the commit holding it is durable; a failed batch is rolled back whole and
/// every item in it fails with the cause; publishes that wait for room (<see cref="OverflowPolicy.Wait"/>) run in the
/// order they came, before any later publish, as soon as the committed outbox has room for the oldest of them; after
/// <see cref="DisposeAsync"/> begins, new work is refused with <see cref="ObjectDisposedException"/>, queued work still runs
/// before the store closes, and publishes still waiting for room fail.
/// <para>
/// Scheduling: the writer is queued on the shared threads at most once at a time (<c>_scheduled</c>), so only one
/// <see cref="RunOnce"/> touches the store and the batch at any moment. Whoever adds work or ends a commit interval queues
/// it; a run that ends re-checks the same conditions after it let go of the flag, so no wake-up is lost. A spare run finds
/// nothing to do and returns.
/// </para>
/// </remarks>
internal sealed class GroupCommitWriter : IAsyncDisposable
{
    /// <summary>Bounds one transaction, so that a burst cannot build a commit of unbounded size.</summary>
    internal const int MaxBatchItems = 1024;

    /// <summary>Bounds the payload bytes of one transaction for the same reason: large payloads fill it sooner.</summary>
    internal const long MaxBatchBytes = 8 * 1024 * 1024;

    private readonly BlockingCollection<StoreWork> _queue = new(new ConcurrentQueue<StoreWork>());
    private readonly OutboxStore _store;
    private readonly TimeProvider _time;
    private readonly OutboxThreads _threads;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<StoreWork> _batch = new(MaxBatchItems);

    // What RunBatch executed (the batch minus what went to wait), and the publishes waiting for room, oldest first.
    private readonly List<StoreWork> _executed = new(MaxBatchItems);
    private readonly Queue<StoreWork> _waitingForRoom = new();

    // What users know as the owner of this writer, for ObjectDisposedException.
    private const string Owner = "StoreForwardPublisher";

    private readonly ICommitObserver? _observer;
    private readonly TimeSpan _commitInterval;

    // 1 while a run is queued or running, and for good once the writer finished. The interval's timer and whether it has
    // run out belong to the batch being taken.
    private int _scheduled;
    private ITimer? _intervalTimer;
    private volatile bool _intervalEnded;

    /// <param name="store">The store this writer owns from now on.</param>
    /// <param name="time">The clock for commit times and the commit interval.</param>
    /// <param name="observer">Told about every commit that wrote something, for the metrics.</param>
    /// <param name="commitInterval">
    /// How long a batch that holds a publish keeps taking work before it commits (zero: commit at once). Publishes that
    /// arrive one by one then share one fsync instead of paying one each: fewer bytes written per message, later receipts.
    /// </param>
    /// <param name="threads">The threads that run the batches; <see cref="OutboxThreads.Shared"/> unless a test brings its own.</param>
    public GroupCommitWriter(OutboxStore store, TimeProvider time, ICommitObserver? observer = null, TimeSpan commitInterval = default, OutboxThreads? threads = null)
    {
        _store = store;
        _time = time;
        _observer = observer;
        _commitInterval = commitInterval;
        _threads = threads ?? OutboxThreads.Shared;
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

        Schedule();
    }

    private void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
            _threads.Run(this);
    }

    /// <summary>Runs <paramref name="operation"/> on the writer thread inside a batch and returns once it is durable.</summary>
    public Task<T> RunAsync<T>(Func<OutboxStore, T> operation)
    {
        var work = new StoreWork<T>(operation);
        Enqueue(work);
        return work.Task;
    }

    /// <summary>
    /// One turn on a shared thread: takes what is queued into the batch and commits it, unless the batch holds a publish
    /// whose commit interval still runs; then queues itself again if more is waiting, or finishes once stopped and empty.
    /// </summary>
    internal void RunOnce()
    {
        var bytes = 0L;
        foreach (var work in _batch)
            bytes += work.Bytes;
        while (_batch.Count < MaxBatchItems && bytes < MaxBatchBytes && _queue.TryTake(out var next))
        {
            _batch.Add(next);
            bytes += next.Bytes;
        }

        var full = _batch.Count >= MaxBatchItems || bytes >= MaxBatchBytes;
        if ((_batch.Count > 0 && (full || !WaitsForInterval())) || OldestWaitingFits())
        {
            RunBatch();
            _batch.Clear();
            _executed.Clear();
            _intervalTimer?.Dispose();
            _intervalTimer = null;
            _intervalEnded = false;
        }

        // Decided while this run still owns the store; read again after the flag is let go, since work may come meanwhile.
        var more = OldestWaitingFits();
        var holding = _batch.Count > 0;
        if (!holding && !more && _queue.IsCompleted)
        {
            Finish();
            return;
        }

        // A full fence: the reads below must not move before the flag is let go, or a wake-up could slip between them.
        Interlocked.Exchange(ref _scheduled, 0);
        if (more || _queue.Count > 0 || _queue.IsAddingCompleted || (holding && _intervalEnded))
            Schedule();
    }

    /// <summary>
    /// Whether the batch holds a publish whose commit interval has not run out, starting the interval's timer on the
    /// injected clock at the first such look. A stopping writer waits for nothing.
    /// </summary>
    private bool WaitsForInterval()
    {
        if (_commitInterval <= TimeSpan.Zero || _intervalEnded || _queue.IsAddingCompleted || !_batch.Exists(work => work is AppendWork))
            return false;
        _intervalTimer ??= _time.CreateTimer(
            static state =>
            {
                var writer = (GroupCommitWriter)state!;
                writer._intervalEnded = true;
                writer.Schedule();
            },
            this,
            _commitInterval,
            Timeout.InfiniteTimeSpan);
        return true;
    }

    /// <summary>Runs once: the run that finishes keeps <c>_scheduled</c> set, so no run follows it.</summary>
    private void Finish()
    {
        var stopped = new ObjectDisposedException(Owner, "The publisher was disposed while the publish waited for room in the outbox; nothing was stored.");
        while (_waitingForRoom.TryDequeue(out var waiting))
            waiting.Fail(stopped);
        _stopped.TrySetResult();
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
        Schedule();
        await _stopped.Task.ConfigureAwait(false);
        _store.Dispose();
        _queue.Dispose();
    }
}
