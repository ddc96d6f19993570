using System.Collections.Concurrent;

namespace StoreForward.Outbox;

/// <summary>
/// The threads that run every outbox's commits in this process. LiteDB has no async API and binds a transaction to the
/// thread that began it, so a commit needs a thread of its own for its whole length, fsync included, and cannot run on the
/// .NET thread pool without starving the sockets. One thread per publisher, though, made a gateway with a thousand
/// publishers a process with a thousand threads. So the publishers share a few: a thread runs one commit of one store file
/// (its <see cref="CommitGroup"/>) and then takes the next file that has work, in the order they asked.
/// </summary>
/// <remarks>
/// Invariants: a store file is queued here at most once at a time (its <see cref="CommitGroup"/> sees to that), so one
/// commit of a file never runs on two threads at once, and every transaction begins and commits on one thread. A
/// thread is started when work is queued and no thread is idle, up to <see cref="MaxThreads"/>: a disk that holds one
/// fsync for long keeps only one thread, and the others go on serving the other outboxes. Threads, once started, stay.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "Its queue lives as long as its threads, which serve until the process ends.")]
internal sealed class OutboxThreads
{
    /// <summary>The threads all publishers of this process share.</summary>
    public static OutboxThreads Shared { get; } = new(Math.Max(4, 4 * Environment.ProcessorCount));

    private readonly BlockingCollection<CommitGroup> _ready = new(new ConcurrentQueue<CommitGroup>());
    private readonly object _starting = new();
    private int _threads;
    private int _idle;

    internal OutboxThreads(int maxThreads) => MaxThreads = maxThreads;

    /// <summary>The most threads this ever starts: enough for every core to commit while as many fsyncs wait.</summary>
    public int MaxThreads { get; }

    /// <summary>Threads started so far.</summary>
    public int ThreadCount => Volatile.Read(ref _threads);

    /// <summary>Queues <paramref name="group"/> for one turn on the next free thread.</summary>
    public void Run(CommitGroup group)
    {
        _ready.Add(group);
        if (Volatile.Read(ref _idle) == 0)
            StartThreadIfBelowMax();
    }

    private void StartThreadIfBelowMax()
    {
        lock (_starting)
        {
            if (_threads >= MaxThreads || Volatile.Read(ref _idle) > 0)
                return;
            _threads++;
            Interlocked.Increment(ref _idle);
        }

        new Thread(Serve) { IsBackground = true, Name = "StoreForward outbox writer" }.Start();
    }

    private void Serve()
    {
        foreach (var group in _ready.GetConsumingEnumerable())
        {
            // This thread is busy now: if more store files wait, another thread may start.
            if (Interlocked.Decrement(ref _idle) == 0 && _ready.Count > 0)
                StartThreadIfBelowMax();
            group.RunOnce();
            Interlocked.Increment(ref _idle);
        }
    }
}
