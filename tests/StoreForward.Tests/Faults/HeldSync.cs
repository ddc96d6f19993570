using StoreForward.Outbox;

namespace StoreForward.Tests.Faults;

/// <summary>While held, every fsync waits, as on a disk that stopped answering; releasing lets them all finish.</summary>
internal sealed class HeldSync : IStorageFaults, IDisposable
{
    private readonly ManualResetEventSlim _open = new(initialState: false);
    private int _waiting;

    /// <summary>How many fsyncs are waiting now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public void Release() => _open.Set();

    public void BeforeWrite(DurableFileStream file, long position, int count)
    {
    }

    public void BeforeSetLength(DurableFileStream file, long length)
    {
    }

    public void BeforeSync(DurableFileStream file)
    {
        Interlocked.Increment(ref _waiting);
        _open.Wait();
        Interlocked.Decrement(ref _waiting);
    }

    public void AfterSync(DurableFileStream file)
    {
    }

    /// <summary>Releases every waiting fsync. The event is left to the collector: a writer may still be leaving its wait.</summary>
    public void Dispose() => _open.Set();
}
