using LiteDB;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Tests.Faults;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Outbox;

/// <summary>
/// Publishers of one process that name the same store path share its file (<see cref="StoreFile"/>): each keeps the
/// outbox of its own ClientId, and their batches commit together.
/// </summary>
[Trait("Category", "Unit")]
public sealed class SharedStoreTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly TestDirectory _dir = new();

    private string StorePath => _dir.File("shared.db");

    public void Dispose() => _dir.Dispose();

    private Task<StoreForwardPublisher> StartAsync(string clientId) => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath, clientId));

    [Fact]
    public async Task Each_publisher_keeps_its_own_sequences_and_messages_and_finds_them_again_after_a_restart_in_any_order()
    {
        await using (var a = await StartAsync("gw-a"))
        await using (var b = await StartAsync("gw-b"))
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(i + 1, (await a.PublishAsync("a/t", new byte[] { (byte)i })).Sequence);
                Assert.Equal(2 * i + 1, (await b.PublishAsync("b/t", new byte[] { (byte)i })).Sequence);
                Assert.Equal(2 * i + 2, (await b.PublishAsync("b/t", new byte[] { (byte)(i + 100) })).Sequence);
            }

            Assert.Equal(5, a.Status.PendingMessages);
            Assert.Equal(10, b.Status.PendingMessages);
        }

        await using (var b = await StartAsync("gw-b"))
        await using (var c = await StartAsync("gw-c"))
        await using (var a = await StartAsync("gw-a"))
        {
            Assert.Equal(5, a.Status.PendingMessages);
            Assert.Equal(10, b.Status.PendingMessages);
            Assert.Equal(0, c.Status.PendingMessages);
            Assert.Equal(6, (await a.PublishAsync("a/t", new byte[] { 9 })).Sequence);
            Assert.Equal(1, (await c.PublishAsync("c/t", new byte[] { 9 })).Sequence);
        }

        // A tool opens one outbox by its ClientId, and refuses to guess which.
        var unnamed = Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(StorePath));
        Assert.Contains("shared by the publishers with the ClientIds 'gw-a', 'gw-b', 'gw-c'", unnamed.Message, StringComparison.Ordinal);
        foreach (var (clientId, topic, count) in new[] { ("gw-a", "a/t", 6), ("gw-b", "b/t", 10), ("gw-c", "c/t", 1) })
        {
            using var store = OutboxStore.Open(StorePath, clientId: clientId);
            var messages = store.ReadAll().ToList();
            Assert.Equal(count, messages.Count);
            Assert.All(messages, m => Assert.Equal(topic, m.Topic));
            Assert.Equal(Enumerable.Range(1, count).Select(n => (long)n), messages.Select(m => m.Sequence));
            Assert.Empty(store.Verify());
        }
    }

    [Fact]
    public async Task The_batches_of_every_publisher_of_the_file_share_one_commit_and_one_fsync()
    {
        using var a = OutboxStore.Open(StorePath, clientId: "gw-a");
        using var b = OutboxStore.Open(StorePath, clientId: "gw-b");
        Assert.Same(a.SharedFile, b.SharedFile);
        var threads = new OutboxThreads(maxThreads: 2);
        var writerA = new GroupCommitWriter(a, TimeProvider.System, threads: threads);
        var writerB = new GroupCommitWriter(b, TimeProvider.System, threads: threads);
        try
        {
            using var disk = new HeldSync();
            a.LogFile.Faults = disk;
            var held = Append(writerA, "a/t");
            await Eventually.TrueAsync(() => disk.Waiting == 1, "the first commit waits for its fsync", Patience);
            var syncsBefore = a.SyncCount;

            // While the file's one commit waits for the disk, both publishers queue work: it goes into one commit.
            var queued = new[] { Append(writerA, "a/t"), Append(writerB, "b/t"), Append(writerB, "b/t") };
            disk.Release();
            await Task.WhenAll(queued.Append(held)).WaitAsync(Patience);

            Assert.Equal(syncsBefore + 2, a.SyncCount);
            Assert.Equal(2, a.Snapshot.PendingMessages);
            Assert.Equal(2, b.Snapshot.PendingMessages);
            Assert.Equal(2, writerA.CommitCount);
            Assert.Equal(1, writerB.CommitCount);
        }
        finally
        {
            await writerA.DisposeAsync();
            await writerB.DisposeAsync();
        }
    }

    [Fact]
    public void A_publisher_that_joins_a_file_costs_no_commit_until_its_first_batch_and_keeps_its_number_meanwhile()
    {
        var stores = new List<OutboxStore> { OutboxStore.Open(StorePath, clientId: "gw-a") };
        try
        {
            var syncs = stores[0].SyncCount;
            stores.Add(OutboxStore.Open(StorePath, clientId: "gw-b"));
            stores.Add(OutboxStore.Open(StorePath, clientId: "gw-c"));
            Assert.Equal(syncs, stores[0].SyncCount);
            Assert.Equal([0, 1, 2], stores.Select(s => s.Tenant.Number));

            // gw-c's first batch writes its header with its message; gw-b never writes and leaves nothing behind.
            var c = stores[2];
            c.BeginBatch();
            c.Append("c/t", [1], MqttQualityOfServiceLevel.AtLeastOnce, retain: false, DateTimeOffset.UtcNow);
            Assert.True(c.CommitBatch());
        }
        finally
        {
            foreach (var store in stores)
                store.Dispose();
        }

        var every = OutboxStore.OpenEvery(StorePath);
        try
        {
            Assert.Equal(["gw-a", "gw-c"], every.Select(s => s.ClientId));
            Assert.Equal([0L, 1L], every.Select(s => s.Snapshot.PendingMessages));
        }
        finally
        {
            foreach (var store in every)
                store.Dispose();
        }

        // Newcomers get numbers above the highest one written (gw-c's), never one that holds records.
        using var d = OutboxStore.Open(StorePath, clientId: "gw-d");
        Assert.Equal(3, d.Tenant.Number);
    }

    [Fact]
    public void A_joining_publisher_whose_first_commit_failed_while_it_was_written_learns_that_nothing_of_it_was_stored()
    {
        using var a = OutboxStore.Open(StorePath, clientId: "gw-a");
        using var b = OutboxStore.Open(StorePath, clientId: "gw-b");
        b.LogFile.Faults = new FullDisk();

        // Its first batch only reads, as a session starting does; the commit writes nothing but gw-b's header.
        b.BeginBatch();
        Assert.Empty(b.ReadAfter(0, 10));
        Assert.ThrowsAny<IOException>(() => b.CommitBatch());

        // The commit had started, so the file was reopened; gw-b's header is not on disk, so nothing of the batch is.
        Assert.True(b.RollbackBatch());
        b.LogFile.Faults = null;
        b.BeginBatch();
        Assert.Equal(1, b.Append("b/t", [2], MqttQualityOfServiceLevel.AtLeastOnce, retain: false, DateTimeOffset.UtcNow));
        Assert.True(b.CommitBatch());
        Assert.Equal(1, b.Snapshot.PendingMessages);
    }

    [Fact]
    public async Task Publishers_that_join_and_leave_one_file_at_random_while_others_publish_lose_nothing()
    {
        // 8 ClientIds, each started and disposed 6 times, all at once and each at its own pace: the file is opened,
        // joined, left and closed again under publishing, and every publish that returned must be in its own outbox.
        var random = new Random(Environment.TickCount);
        var delays = Enumerable.Range(0, 8).Select(_ => random.Next(0, 5)).ToArray();
        var published = await Task.WhenAll(Enumerable.Range(0, 8).Select(p => Task.Run(async () =>
        {
            var count = 0;
            for (var round = 0; round < 6; round++)
            {
                await using var publisher = await StartAsync($"gw-{p}");
                Assert.Equal(count, publisher.Status.PendingMessages);
                for (var n = 0; n < 5; n++)
                {
                    await publisher.PublishAsync($"t/{p}", BitConverter.GetBytes(count));
                    count++;
                }

                await Task.Delay(delays[p]);
            }

            return count;
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.False(StoreFile.IsOpenInProcess(Path.GetFullPath(StorePath)));
        var every = OutboxStore.OpenEvery(StorePath);
        try
        {
            Assert.Equal(8, every.Count);
            foreach (var store in every)
            {
                var p = int.Parse(store.ClientId!["gw-".Length..], System.Globalization.CultureInfo.InvariantCulture);
                var messages = store.ReadAll().ToList();
                Assert.Equal(published[p], messages.Count);
                Assert.All(messages, m => Assert.Equal($"t/{p}", m.Topic));
                Assert.Equal(Enumerable.Range(0, published[p]), messages.Select(m => BitConverter.ToInt32(m.Payload)));
                Assert.Empty(store.Verify());
            }
        }
        finally
        {
            foreach (var store in every)
                store.Dispose();
        }
    }

    private static Task<long> Append(GroupCommitWriter writer, string topic) =>
        writer.RunAsync(store => store.Append(topic, [1], MqttQualityOfServiceLevel.AtLeastOnce, retain: false, DateTimeOffset.UtcNow));

    [Fact]
    public async Task A_failed_shared_commit_fails_every_publisher_in_it_and_stores_nothing_of_any()
    {
        await using var a = await StartAsync("gw-a");
        await using var b = await StartAsync("gw-b");
        await a.PublishAsync("a/t", new byte[] { 1 });
        await b.PublishAsync("b/t", new byte[] { 1 });

        await a.SetStorageFaultsForTests(new FullDisk());
        var results = await Task.WhenAll(
            Capture(a.PublishAsync("a/t", new byte[] { 2 })),
            Capture(b.PublishAsync("b/t", new byte[] { 2 })));
        Assert.All(results, e => Assert.IsType<OutboxStoreException>(e));
        Assert.Equal(1, a.Status.PendingMessages);
        Assert.Equal(1, b.Status.PendingMessages);

        await a.SetStorageFaultsForTests(null);
        Assert.Equal(2, (await a.PublishAsync("a/t", new byte[] { 3 })).Sequence);
        Assert.Equal(2, (await b.PublishAsync("b/t", new byte[] { 3 })).Sequence);
    }

    private static async Task<Exception?> Capture(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Fact]
    public async Task A_store_from_before_sharing_belongs_to_the_first_publisher_that_opens_it_and_a_second_ClientId_gets_its_own()
    {
        // A tool (or an older StoreForward) created it: no ClientId recorded.
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.Append("old/t", [1], MqttQualityOfServiceLevel.AtLeastOnce, retain: false, DateTimeOffset.UtcNow);
            store.CommitBatch();
            Assert.Null(store.ClientId);
        }

        await using (var first = await StartAsync("gw-a"))
        await using (var second = await StartAsync("gw-b"))
        {
            Assert.Equal(1, first.Status.PendingMessages);
            Assert.Equal(0, second.Status.PendingMessages);
        }

        // The claim is in the file: in any order, the backlog stays with gw-a.
        await using (var second = await StartAsync("gw-b"))
        await using (var first = await StartAsync("gw-a"))
        {
            Assert.Equal(1, first.Status.PendingMessages);
            Assert.Equal(0, second.Status.PendingMessages);
        }

        using var db = new LiteDatabase(StorePath);
        var headers = db.GetCollection("meta").FindAll().ToDictionary(d => d["_id"].AsString, d => d["client"].AsString);
        Assert.Equal(new Dictionary<string, string> { ["outbox"] = "gw-a", ["outbox/1"] = "gw-b" }, headers);
    }

    [Fact]
    public async Task A_new_ClientId_on_a_store_that_holds_messages_of_another_gets_its_own_outbox_and_a_warning_that_names_them()
    {
        await using (var old = await StartAsync("gw-old"))
        {
            await old.PublishAsync("a/t", new byte[] { 1 });
            await old.PublishAsync("a/t", new byte[] { 2 });
        }

        var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var options = TestOptions.Offline(StorePath, "gw-new");
        options.LoggerFactory = factory;
        await using (var renamed = await StoreForwardPublisher.StartAsync(options))
        {
            Assert.Equal(0, renamed.Status.PendingMessages);
            await renamed.PublishAsync("b/t", new byte[] { 1 });
        }

        var warning = Assert.Single(logs.Collector.GetSnapshot(), r => r.Id.Name == "OthersPendingInStore");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("new for the ClientId gw-new", warning.Message, StringComparison.Ordinal);
        Assert.Contains("2 pending messages of other ClientIds (gw-old: 2)", warning.Message, StringComparison.Ordinal);

        // Written by now, the outbox is not new again: no warning on the next start.
        logs.Collector.Clear();
        await using (await StoreForwardPublisher.StartAsync(options))
            Assert.DoesNotContain(logs.Collector.GetSnapshot(), r => r.Id.Name == "OthersPendingInStore");
        await using var back = await StartAsync("gw-old");
        Assert.Equal(2, back.Status.PendingMessages);
    }

    [Fact]
    public async Task The_last_publisher_to_leave_closes_the_file_and_another_process_is_still_refused_meanwhile()
    {
        var a = await StartAsync("gw-a");
        await using (var b = await StartAsync("gw-b"))
        {
            await a.DisposeAsync();
            Assert.True(StoreFile.IsOpenInProcess(StorePath));
            await b.PublishAsync("b/t", new byte[] { 1 });

            // The files stay locked for as long as one publisher uses them.
            Assert.Throws<IOException>(() => new FileStream(StorePath, FileMode.Open, FileAccess.ReadWrite, FileShare.None).Dispose());
        }

        Assert.False(StoreFile.IsOpenInProcess(StorePath));
        using var reopened = OutboxStore.Open(StorePath, clientId: "gw-b");
        Assert.Equal(1, reopened.Snapshot.PendingMessages);
    }
}
