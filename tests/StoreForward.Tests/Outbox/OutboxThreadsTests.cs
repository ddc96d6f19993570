using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Tests.Faults;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Outbox;

/// <summary>
/// The writer threads all outboxes of a process share (<see cref="OutboxThreads"/>): here a private set of two, so that
/// what a cap means can be seen with a few stores.
/// </summary>
[Trait("Category", "Unit")]
public sealed class OutboxThreadsTests : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly TestDirectory _dir = new();
    private readonly OutboxThreads _threads = new(maxThreads: 2);
    private readonly List<(OutboxStore Store, GroupCommitWriter Writer)> _outboxes = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, writer) in _outboxes)
            await writer.DisposeAsync();
        _dir.Dispose();
    }

    private (OutboxStore Store, GroupCommitWriter Writer) NewOutbox()
    {
        var store = OutboxStore.Open(_dir.File($"outbox-{_outboxes.Count}.db"));
        var outbox = (store, new GroupCommitWriter(store, TimeProvider.System, threads: _threads));
        _outboxes.Add(outbox);
        return outbox;
    }

    private static Task<long> AppendAsync(GroupCommitWriter writer, int n) =>
        writer.RunAsync(store => store.Append("plant/t", BitConverter.GetBytes(n), MqttQualityOfServiceLevel.AtLeastOnce, retain: false, DateTimeOffset.UtcNow));

    [Fact]
    public async Task Twelve_outboxes_publishing_at_once_commit_everything_on_two_threads()
    {
        var outboxes = Enumerable.Range(0, 12).Select(_ => NewOutbox()).ToList();

        await Task.WhenAll(outboxes.Select(o => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
                await AppendAsync(o.Writer, i);
        }))).WaitAsync(Patience);

        Assert.All(outboxes, o => Assert.Equal(20, o.Writer.Snapshot.PendingMessages));
        Assert.InRange(_threads.ThreadCount, 1, 2);
    }

    [Fact]
    public async Task An_outbox_whose_disk_stopped_answering_holds_one_thread_and_the_others_go_on()
    {
        var (stuckStore, stuck) = NewOutbox();
        var (_, other) = NewOutbox();
        using var disk = new HeldSync();
        stuckStore.LogFile.Faults = disk;

        var held = AppendAsync(stuck, 0);
        await Eventually.TrueAsync(() => disk.Waiting == 1, "the stuck outbox's commit waits for its disk", Patience);
        for (var i = 0; i < 10; i++)
            await AppendAsync(other, i).WaitAsync(Patience);

        Assert.Equal(10, other.Snapshot.PendingMessages);
        Assert.False(held.IsCompleted, "The commit returned before its fsync did.");
        disk.Release();
        await held.WaitAsync(Patience);
        Assert.Equal(1, stuck.Snapshot.PendingMessages);
    }
}
