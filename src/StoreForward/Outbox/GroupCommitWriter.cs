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
/// every item in it fails with the cause; after <see cref="DisposeAsync"/> begins, new work is refused with
/// <see cref="ObjectDisposedException"/> and queued work still runs before the store closes.
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

    public GroupCommitWriter(OutboxStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
        _thread = new Thread(Run) { IsBackground = true, Name = "StoreForward outbox writer" };
        _thread.Start();
    }

    /// <summary>Raised on the writer thread after each commit that changed the store. Keep handlers short.</summary>
    public event Action<OutboxSnapshot>? Committed;

    public OutboxSnapshot Snapshot => _store.Snapshot;

    public string StorePath => _store.FilePath;

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
            throw new ObjectDisposedException(nameof(StoreForwardPublisher), "The publisher is shutting down; the outbox takes no more work.");
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
            foreach (var first in _queue.GetConsumingEnumerable())
            {
                _batch.Add(first);
                var bytes = first.Bytes;
                while (_batch.Count < MaxBatchItems && bytes < MaxBatchBytes && _queue.TryTake(out var next))
                {
                    _batch.Add(next);
                    bytes += next.Bytes;
                }

                RunBatch();
                _batch.Clear();
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private void RunBatch()
    {
        bool changed;
        try
        {
            _store.BeginBatch();
            foreach (var work in _batch)
                work.Execute(_store);
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
            foreach (var work in _batch)
                work.Fail(failure);

            // After a reopen the counters come from the disk; whoever shows them must see those.
            Committed?.Invoke(_store.Snapshot);
            return;
        }

        var committedAt = _time.GetUtcNow();
        if (changed)
            CommitCount++;
        foreach (var work in _batch)
            work.Complete(committedAt);
        if (changed)
            Committed?.Invoke(_store.Snapshot);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.CompleteAdding();
        await _stopped.Task.ConfigureAwait(false);
        _store.Dispose();
        _queue.Dispose();
    }
}
