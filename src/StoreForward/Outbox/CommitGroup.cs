using System.Collections.Concurrent;

namespace StoreForward.Outbox;

/// <summary>
/// Commits the batches of every publisher that shares one <see cref="StoreFile"/> together: one transaction and one fsync
/// for whatever all of them queued while the previous commit was being fsync'd. Each publisher's
/// <see cref="GroupCommitWriter"/> keeps its own queue, its publishes waiting for room, its commit interval and its
/// outcome; this only gathers the writers that have work, runs their batches in one transaction and hands each the result.
/// </summary>
/// <remarks>
/// Invariants: the group is queued on <see cref="OutboxThreads"/> at most once at a time (<c>_scheduled</c>), and a turn
/// runs under the file's <see cref="StoreFile.Gate"/>, so one transaction is open on a file at any moment and it begins
/// and commits on one thread. A writer is in the ready queue at most once (its own flag); a turn takes writers until the
/// batch is full, in the order they became ready, and the rest wait for the next turn, so no publisher starves another.
/// The transaction commits or fails whole: a failure fails the work of every writer in it.
/// </remarks>
internal sealed class CommitGroup(StoreFile file)
{
    private readonly ConcurrentQueue<GroupCommitWriter> _ready = new();
    private readonly List<GroupCommitWriter> _turn = [];
    private readonly List<GroupCommitWriter> _committing = [];
    private int _scheduled;
    private volatile OutboxThreads? _threads;

    /// <summary>Queues <paramref name="writer"/> for the next turn.</summary>
    public void Ready(GroupCommitWriter writer)
    {
        _threads = writer.Threads;
        _ready.Enqueue(writer);
        Schedule();
    }

    private void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
            _threads!.Run(this);
    }

    /// <summary>One turn on a shared thread: the ready writers' batches in one commit, then each writer's own follow-up.</summary>
    internal void RunOnce()
    {
        lock (file.Gate)
        {
            var items = 0;
            var bytes = 0L;
            while (items < GroupCommitWriter.MaxBatchItems && bytes < GroupCommitWriter.MaxBatchBytes && _ready.TryDequeue(out var writer))
            {
                _turn.Add(writer);
                if (writer.TakeWork(out var taken, out var takenBytes))
                {
                    _committing.Add(writer);
                    items += taken;
                    bytes += takenBytes;
                }
            }

            if (_committing.Count > 0)
                RunBatch();
            foreach (var writer in _turn)
                writer.EndTurn();
            _turn.Clear();
            _committing.Clear();
        }

        // A full fence: the queue must be read after the flag is let go, or a writer made ready meanwhile could wait forever.
        Interlocked.Exchange(ref _scheduled, 0);
        if (!_ready.IsEmpty)
            Schedule();
    }

    private void RunBatch()
    {
        var time = _committing[0].Time;
        var startedAt = time.GetTimestamp();
        var began = false;
        bool wrote;
        try
        {
            file.Begin();
            began = true;
            foreach (var writer in _committing)
                writer.ExecuteBatch();

            wrote = false;
            foreach (var writer in _committing)
                wrote |= writer.Store.StageCommit();
            file.Commit(wrote);
        }
        catch (Exception error)
        {
            var outcomeKnown = true;
            if (began)
            {
                try
                {
                    // A writer whose batch the failure stopped before it began has nothing staged: undoing it changes nothing.
                    outcomeKnown = file.Rollback(_committing.ConvertAll(writer => writer.Store));
                }
                catch (Exception rollbackError)
                {
                    error = new AggregateException(error, rollbackError);
                }
            }

            foreach (var writer in _committing)
                writer.CommitFailed(error, outcomeKnown, began);
            return;
        }

        var duration = time.GetElapsedTime(startedAt);
        foreach (var writer in _committing)
            writer.CommitDone(duration);
        if (wrote)
            file.CheckpointWhenDue();
    }
}
