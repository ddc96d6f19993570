using MQTTnet.Protocol;

namespace StoreForward.Tests.Outbox;

[Trait("Category", "Unit")]
public sealed class GroupCommitTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Each_sequential_publish_returns_only_after_its_own_commit_was_fsynced()
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(_dir.File("outbox.db")));

        for (var i = 0; i < 20; i++)
        {
            var syncsBefore = publisher.SyncCount;
            var commitsBefore = publisher.CommitCount;

            await publisher.PublishAsync("plant/t", new byte[] { (byte)i });

            // Nothing else writes while the broker is unreachable: this publish's commit is the only one, and its fsync
            // happened before the call returned.
            Assert.Equal(commitsBefore + 1, publisher.CommitCount);
            Assert.Equal(syncsBefore + 1, publisher.SyncCount);
        }
    }

    [Fact]
    public async Task Concurrent_publishers_share_commits_and_every_commit_costs_one_fsync()
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(_dir.File("outbox.db")));
        var syncsBefore = publisher.SyncCount;
        var commitsBefore = publisher.CommitCount;

        var receipts = await Task.WhenAll(Enumerable.Range(0, 2000).Select(i =>
            Task.Run(() => publisher.PublishAsync("plant/t", BitConverter.GetBytes(i), MqttQualityOfServiceLevel.ExactlyOnce))));

        var commits = publisher.CommitCount - commitsBefore;
        Assert.Equal(2000, receipts.Select(r => r.Sequence).Distinct().Count());
        Assert.Equal(2000, publisher.Status.PendingMessages);
        Assert.True(commits < 2000, $"{commits} commits for 2000 concurrent publishes: no group commit happened.");
        Assert.Equal(commits, publisher.SyncCount - syncsBefore);
    }

    [Fact]
    public async Task Sequences_follow_the_order_in_which_publishes_completed()
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(_dir.File("outbox.db")));

        var first = await publisher.PublishAsync("a", new byte[1]);
        var second = await publisher.PublishAsync("b", new byte[1]);

        Assert.True(second.Sequence > first.Sequence);
        Assert.True(second.StoredAt >= first.StoredAt);
    }

    [Fact]
    public async Task Status_counts_pending_messages_bytes_and_age()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.Parse("2026-11-24T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var options = TestOptions.Offline(_dir.File("outbox.db"));
        options.TimeProvider = time;
        await using var publisher = await StoreForwardPublisher.StartAsync(options);

        await publisher.PublishAsync("plant/t", new byte[10]);
        time.Advance(TimeSpan.FromMinutes(5));
        await publisher.PublishAsync("plant/u", new byte[20]);

        var status = publisher.Status;
        Assert.Equal(2, status.PendingMessages);
        Assert.Equal(7 + 10 + 7 + 20, status.PendingBytes);
        Assert.Equal(TimeSpan.FromMinutes(5), status.OldestPendingAge);
        Assert.False(status.IsConnected);
    }

    [Fact]
    public async Task A_clock_stepped_back_makes_the_oldest_age_zero_not_negative()
    {
        var clock = new SteppedClock { UtcNow = DateTimeOffset.Parse("2026-11-24T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture) };
        var options = TestOptions.Offline(_dir.File("outbox.db"));
        options.TimeProvider = clock;
        await using var publisher = await StoreForwardPublisher.StartAsync(options);
        await publisher.PublishAsync("plant/t", new byte[10]);

        clock.UtcNow -= TimeSpan.FromHours(1);   // an NTP correction or a wrong RTC put right

        Assert.Equal(TimeSpan.Zero, publisher.Status.OldestPendingAge);
        clock.UtcNow += TimeSpan.FromHours(2);
        Assert.Equal(TimeSpan.FromHours(1), publisher.Status.OldestPendingAge);
    }

    /// <summary>Wall-clock time that can be stepped both ways, as a real clock can (FakeTimeProvider only goes forward).</summary>
    private sealed class SteppedClock : TimeProvider
    {
        public DateTimeOffset UtcNow { get; set; }

        public override DateTimeOffset GetUtcNow() => UtcNow;
    }

    [Fact]
    public async Task After_dispose_publishing_fails_clearly_and_stored_messages_stay()
    {
        var path = _dir.File("outbox.db");
        var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(path));
        await publisher.PublishAsync("plant/t", new byte[1]);
        await publisher.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => publisher.PublishAsync("plant/t", new byte[1]));
        await using var reopened = await StoreForwardPublisher.StartAsync(TestOptions.Offline(path));
        Assert.Equal(1, reopened.Status.PendingMessages);
    }
}
