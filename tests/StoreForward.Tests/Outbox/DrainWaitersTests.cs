using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

[Trait("Category", "Unit")]
public sealed class DrainWaitersTests
{
    private static OutboxSnapshot Pending(long oldest, long last) => new(last - oldest + 1, 0, oldest, DateTimeOffset.UnixEpoch, last, 0, 0, 0, 0);

    [Fact]
    public async Task A_waiter_completes_once_the_outbox_drained_through_the_last_sequence_at_its_call()
    {
        var waiters = new DrainWaiters();
        var wait = waiters.WaitAsync(() => Pending(1, 10), CancellationToken.None);

        waiters.OnCommitted(Pending(5, 12));
        Assert.False(wait.IsCompleted);
        waiters.OnCommitted(Pending(11, 12));

        await wait;
        Assert.Equal(0, waiters.Count);
    }

    [Fact]
    public async Task A_cancelled_wait_leaves_nothing_behind()
    {
        var waiters = new DrainWaiters();
        using var cts = new CancellationTokenSource();
        var wait = waiters.WaitAsync(() => Pending(1, 10), cts.Token);
        Assert.Equal(1, waiters.Count);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Equal(0, waiters.Count);
    }

    [Fact]
    public async Task Closing_fails_current_and_later_waiters()
    {
        var waiters = new DrainWaiters();
        var wait = waiters.WaitAsync(() => Pending(1, 10), CancellationToken.None);

        waiters.Close(new ObjectDisposedException("publisher"));

        await Assert.ThrowsAsync<ObjectDisposedException>(() => wait);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiters.WaitAsync(() => Pending(1, 10), CancellationToken.None));
    }
}
