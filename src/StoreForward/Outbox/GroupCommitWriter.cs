using System.Collections.Concurrent;

namespace StoreForward.Outbox;

/// <summary>
/// Owns a publisher's <see cref="OutboxStore"/> and runs every store operation in batches, one batch at a time, on the
/// threads of <see cref="OutboxThreads"/>. Whatever queued up while the previous commit was being fsync'd goes into the
/// next transaction, so concurrent callers share one commit and one fsync (group commit); and the batches of every
/// publisher of the same store file go into that one transaction too (<see cref="CommitGroup"/>).
/// </summary>
/// <remarks>
/// Invariants: a work item completes only after the commit holding it is durable; a failed batch is rolled back whole and
/// every item in it fails with the cause; publishes that wait for room (<see cref="OverflowPolicy.Wait"/>) run in the
/// order they came, before any later publish, as soon as the committed outbox has room for the oldest of them; after
/// <see cref="DisposeAsync"/> begins, new work is refused with <see cref="ObjectDisposedException"/>, queued work still runs
/// before the store closes, and publishes still waiting for room fail.
/// <para>
/// Scheduling: the writer is queued on its file's <see cref="CommitGroup"/> at most once at a time (<c>_scheduled</c>), so
/// only one turn touches the store and the batch at any moment. Whoever adds work or ends a commit interval queues it; a
/// turn that ends (<see cref="EndTurn"/>) re-checks the same conditions after it let go of the flag, so no wake-up is lost.
/// A spare turn finds nothing to do.
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
    // Grown by the batches, not sized for the largest up front: 16 KiB a publisher is 16 MB for a gateway of a thousand.
    private readonly List<StoreWork> _batch = [];

    // What RunBatch executed (the batch minus what went to wait), and the publishes waiting for room, oldest first.
    private readonly List<StoreWork> _executed = [];
    private readonly Queue<StoreWork> _waitingForRoom = new();

    // What users know as the owner of this writer, for ObjectDisposedException.
    private const string Owner = "StoreForwardPublisher";

    private readonly ICommitObserver? _observer;
    private readonly TimeSpan _commitInterval;

    // 1 while a run is queued or running, and for good once the writer finished. The interval's timer and whether it has
    // run out belong to the batch being taken.
    private int _scheduled;
    private int _reached;
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
            _store.SharedFile.Commits.Ready(this);
    }

    /// <summary>The threads that run this writer's turns.</summary>
    internal OutboxThreads Threads => _threads;

    /// <summary>The clock for commit times and the commit interval.</summary>
    internal TimeProvider Time => _time;

    /// <summary>The publisher's store: its tenant of the file.</summary>
    internal OutboxStore Store => _store;

    /// <summary>Runs <paramref name="operation"/> on the writer thread inside a batch and returns once it is durable.</summary>
    public Task<T> RunAsync<T>(Func<OutboxStore, T> operation)
    {
        var work = new StoreWork<T>(operation);
        Enqueue(work);
        return work.Task;
    }

    /// <summary>
    /// The first part of a turn, under the file's gate: takes what is queued into the batch and says whether the batch
    /// commits in this turn, which it does unless it holds a publish whose commit interval still runs.
    /// </summary>
    internal bool TakeWork(out int items, out long bytes)
    {
        bytes = 0L;
        foreach (var work in _batch)
            bytes += work.Bytes;
        while (_batch.Count < MaxBatchItems && bytes < MaxBatchBytes && _queue.TryTake(out var next))
        {
            _batch.Add(next);
            bytes += next.Bytes;
        }

        items = _batch.Count + _waitingForRoom.Count;
        var full = _batch.Count >= MaxBatchItems || bytes >= MaxBatchBytes;
        return (_batch.Count > 0 && (full || !WaitsForInterval())) || OldestWaitingFits();
    }

    /// <summary>
    /// The last part of a turn: queues the writer again if more is waiting, or finishes it once stopped and empty. A writer
    /// that holds a publish for its commit interval is queued again by the interval's timer.
    /// </summary>
    internal void EndTurn()
    {
        // Decided while this turn still owns the store; read again after the flag is let go, since work may come meanwhile.
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

    /// <summary>Runs once: the turn that finishes keeps <c>_scheduled</c> set, so no turn follows it.</summary>
    private void Finish()
    {
        var stopped = new ObjectDisposedException(Owner, "The publisher was disposed while the publish waited for room in the outbox; nothing was stored.");
        while (_waitingForRoom.TryDequeue(out var waiting))
            waiting.Fail(stopped);
        _stopped.TrySetResult();
    }

    private bool OldestWaitingFits() => _waitingForRoom.TryPeek(out var oldest) && !oldest.WaitsForRoom(_store, othersWait: false);

    /// <summary>Runs the batch inside the file's open transaction: the publishes waiting for room first, as far as there is room.</summary>
    internal void ExecuteBatch()
    {
        _store.BeginStaging();

        // Waiting publishes are older than anything taken now, so they go first.
        while (_executed.Count < MaxBatchItems && OldestWaitingFits())
            Execute(_waitingForRoom.Dequeue());
        while (_reached < _batch.Count)
        {
            var work = _batch[_reached++];
            if (work.WaitsForRoom(_store, othersWait: _waitingForRoom.Count > 0))
                _waitingForRoom.Enqueue(work);
            else
                Execute(work);
        }
    }

    /// <summary>The transaction holding the batch is durable (or wrote nothing): completes its work.</summary>
    internal void CommitDone(TimeSpan commitDuration)
    {
        var changed = _store.CommitStaged();
        var committedAt = _time.GetUtcNow();
        LastFailure = null;
        if (changed)
        {
            CommitCount++;
            Report(commitDuration);
        }

        foreach (var work in _executed)
            work.Complete(committedAt);
        if (changed)
            Committed?.Invoke(_store.Snapshot);
        if (changed && _store.TakeSetAside() is { Count: > 0 } setAside)
            SetAside?.Invoke(setAside);
        ClearBatch();
    }

    /// <summary>The transaction holding the batch failed and was rolled back whole: fails its work with the cause.</summary>
    /// <param name="error">Why.</param>
    /// <param name="outcomeKnown">Whether nothing of it was stored, or whether it may have reached the disk.</param>
    /// <param name="began">Whether the transaction began; a store that cannot even begin one takes no more work.</param>
    internal void CommitFailed(Exception error, bool outcomeKnown, bool began)
    {
        var failure = new OutboxStoreException(
            _store.FilePath,
            outcomeKnown
                ? $"the commit failed and nothing in it was stored ({error.Message})."
                : $"the commit failed while it was being written, so whether it reached the disk is unknown; its messages may still be delivered ({error.Message}).",
            error);
        LastFailure = failure.Message;
        foreach (var work in _executed)
            work.Fail(failure);

        // Work the failed batch never reached fails with it, and so do the publishes waiting for room when the batch could
        // not even begin, instead of retrying forever.
        for (var i = _reached; i < _batch.Count; i++)
            _batch[i].Fail(failure);
        while (!began && _waitingForRoom.TryDequeue(out var waiting))
            waiting.Fail(failure);

        // After a reopen the counters come from the disk; whoever shows them must see those.
        Committed?.Invoke(_store.Snapshot);
        ClearBatch();
    }

    private void ClearBatch()
    {
        _batch.Clear();
        _executed.Clear();
        _reached = 0;
        _intervalTimer?.Dispose();
        _intervalTimer = null;
        _intervalEnded = false;
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
