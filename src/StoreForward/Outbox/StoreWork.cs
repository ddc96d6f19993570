namespace StoreForward.Outbox;

/// <summary>
/// One unit of work for the <see cref="GroupCommitWriter"/>. It runs inside the batch's transaction on the writer thread
/// and learns the outcome only after the batch's commit reached the disk.
/// </summary>
internal abstract class StoreWork
{
    /// <summary>Payload bytes this work adds to a transaction.</summary>
    public virtual long Bytes => 0;

    /// <summary>
    /// Whether the work must wait for room in the outbox (<see cref="OverflowPolicy.Wait"/>) instead of running in this
    /// batch; <paramref name="othersWait"/> says whether earlier work waits already, which a publish must not overtake.
    /// </summary>
    public virtual bool WaitsForRoom(OutboxStore store, bool othersWait) => false;

    /// <summary>Runs inside the open batch; returns false when the work was withdrawn or refused and stored nothing.</summary>
    public abstract bool Execute(OutboxStore store);

    /// <summary>Called after the commit is durable.</summary>
    public abstract void Complete(DateTimeOffset committedAt);

    /// <summary>Called when the batch failed and was rolled back.</summary>
    public abstract void Fail(Exception error);
}

/// <summary>A store operation with a result, used by the session engine.</summary>
internal sealed class StoreWork<T>(Func<OutboxStore, T> operation) : StoreWork
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T _result = default!;

    public Task<T> Task => _completion.Task;

    public override bool Execute(OutboxStore store)
    {
        _result = operation(store);
        return true;
    }

    public override void Complete(DateTimeOffset committedAt) => _completion.TrySetResult(_result);

    public override void Fail(Exception error) => _completion.TrySetException(error);
}
