using Microsoft.Extensions.Time.Testing;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

/// <summary>
/// <see cref="StoreForwardOptions.CommitInterval"/>: a commit that holds a publish waits that long on the publisher's clock
/// for more, so publishes made one after another share one fsync. The clock is fake: the interval ends when the test says.
/// </summary>
[Trait("Category", "Unit")]
public sealed class CommitIntervalTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);
    private readonly TestDirectory _dir = new();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    private Task<StoreForwardPublisher> StartAsync(string path)
    {
        var options = TestOptions.Offline(path);
        options.TimeProvider = _time;
        options.CommitInterval = Interval;
        return StoreForwardPublisher.StartAsync(options);
    }

    [Fact]
    public async Task Publishes_made_one_after_another_within_the_interval_share_one_commit_and_return_only_after_it()
    {
        await using var publisher = await StartAsync(_dir.File("outbox.db"));
        var commitsBefore = publisher.CommitCount;
        var syncsBefore = publisher.SyncCount;

        var first = publisher.PublishAsync("plant/t", new byte[] { 1 });
        await Task.Delay(200);   // real time: without the interval the writer would have committed it by now
        Assert.False(first.IsCompleted, "The publish returned before its commit interval ended.");
        var second = publisher.PublishAsync("plant/t", new byte[] { 2 });
        var third = publisher.PublishAsync("plant/t", new byte[] { 3 });

        var receipts = await AdvanceUntilAsync(Task.WhenAll(first, second, third));

        Assert.Equal(commitsBefore + 1, publisher.CommitCount);
        Assert.Equal(syncsBefore + 1, publisher.SyncCount);
        Assert.Equal([1, 2, 3], receipts.Select(r => r.Sequence - receipts[0].Sequence + 1));
        Assert.Equal(3, publisher.Status.PendingMessages);
    }

    [Fact]
    public async Task Work_without_a_publish_commits_at_once()
    {
        await using var publisher = await StartAsync(_dir.File("outbox.db"));

        // The clock never moves: a read that waited for the interval would never finish.
        var deadLetters = await publisher.GetDeadLettersAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(deadLetters);
    }

    [Fact]
    public async Task Disposing_the_writer_during_the_interval_commits_the_waiting_publish()
    {
        // The writer itself, not a publisher: a publisher's stop first waits for its delivery engine, whose last store
        // work joins the waiting batch and so waits for the interval too (at most CommitInterval on a real clock).
        var path = _dir.File("outbox.db");
        var writer = new GroupCommitWriter(OutboxStore.Open(path), _time, commitInterval: Interval);
        var waiting = new AppendWork("plant/t", new byte[] { 7 }, MqttQualityOfServiceLevel.AtLeastOnce, retain: false, _time.GetUtcNow(), OutboxLimits.Unbounded);
        writer.Enqueue(waiting);

        // The clock never moves: only the writer's stop can end this interval.
        await writer.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        var receipt = await waiting.Task;
        Assert.True(receipt.Sequence > 0);
        await using var reopened = await StoreForwardPublisher.StartAsync(TestOptions.Offline(path));
        Assert.Equal(1, reopened.Status.PendingMessages);
    }

    /// <summary>
    /// Moves the fake clock one interval at a time until <paramref name="task"/> completes: the writer may start its wait
    /// a little after the publishes were queued, and a wait created after an advance needs another one.
    /// </summary>
    private async Task<T> AdvanceUntilAsync<T>(Task<T> task)
    {
        for (var i = 0; i < 1_000 && !task.IsCompleted; i++)
        {
            _time.Advance(Interval);
            await Task.WhenAny(task, Task.Delay(20));
        }

        return await task;
    }
}
