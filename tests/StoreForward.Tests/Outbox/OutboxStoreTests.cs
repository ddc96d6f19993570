using System.Reflection;
using System.Text;
using LiteDB;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Session;

namespace StoreForward.Tests.Outbox;

[Trait("Category", "Unit")]
public sealed class OutboxStoreTests : StoreTest
{
    [Fact]
    public async Task A_missing_directory_is_created_owner_only_with_its_missing_parents()
    {
        var parent = Path.Combine(Directory.Path, "var-lib");
        var path = Path.Combine(parent, "gateway", "outbox.db");

        await using (var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(path)))
            await publisher.PublishAsync("t", "x"u8.ToArray());

        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Assert.Equal(ownerOnly, File.GetUnixFileMode(parent));
        Assert.Equal(ownerOnly, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        using var store = OutboxStore.Open(path);
        Assert.Equal(1, store.Snapshot.PendingMessages);
    }

    [Fact]
    public async Task A_directory_that_cannot_be_created_is_named_in_the_error()
    {
        // A file where a directory should be stops the creation for root too, unlike missing permissions.
        var blocker = Directory.File("not-a-directory");
        await File.WriteAllTextAsync(blocker, "x");
        var path = Path.Combine(blocker, "gateway", "outbox.db");

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(path)));

        Assert.Equal(path, error.StorePath);
        Assert.Equal(OutboxStoreProblem.Unusable, error.Problem);
        Assert.Contains($"the directory '{Path.GetDirectoryName(path)}' does not exist and cannot be created", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(10_500)]
    public async Task A_file_that_is_not_a_LiteDB_database_is_refused_and_left_exactly_as_it_was(int length)
    {
        // LiteDB would take a short file for a new database and overwrite it; a wrong StorePath must not cost the file.
        var bytes = Encoding.UTF8.GetBytes(new string('x', length));
        await File.WriteAllBytesAsync(StorePath, bytes);
        File.SetUnixFileMode(StorePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)));

        Assert.Equal(OutboxStoreProblem.Damaged, error.Problem);
        Assert.Contains("does not start with a LiteDB header", error.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(StorePath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(StorePath));
        Assert.False(File.Exists(OutboxStore.LogPathOf(StorePath)));
    }

    [Fact]
    public async Task A_directory_is_not_a_store()
    {
        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(Directory.Path)));

        Assert.Contains("is a directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_held_by_a_running_publisher_cannot_be_opened_twice_with_its_ClientId()
    {
        await using var first = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath));

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)));

        Assert.Equal(OutboxStoreProblem.InUse, error.Problem);
        Assert.Contains("with the ClientId 'test-client' has the store open already", error.Message, StringComparison.Ordinal);
        Assert.Contains(StorePath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_held_by_another_process_cannot_be_opened()
    {
        await using (await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)))
        {
        }

        // flock(1) holds the same advisory lock that .NET takes for FileShare.None, from a separate process.
        using var holder = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("flock", ["-x", StorePath, "sleep", "30"])
        {
            RedirectStandardOutput = true,
        })!;
        try
        {
            await WaitUntilAsync(() => LockIsHeld(StorePath));

            var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)));

            Assert.Contains("cannot be opened exclusively", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            holder.Kill();
        }
    }

    private static bool LockIsHeld(string path)
    {
        using var probe = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("flock", ["-n", "-x", path, "true"]))!;
        probe.WaitForExit();
        return probe.ExitCode != 0;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
            await Task.Delay(50);
        Assert.True(condition());
    }

    [Fact]
    public async Task A_file_of_random_bytes_is_reported_as_damaged_never_as_an_empty_queue()
    {
        var bytes = new byte[64 * 1024];
        new Random(7).NextBytes(bytes);
        await File.WriteAllBytesAsync(StorePath, bytes);

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)));

        Assert.Contains(StorePath, error.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_foreign_litedb_database_is_not_taken_for_an_outbox()
    {
        using (var db = new LiteDatabase(StorePath))
            db.GetCollection("customers").Insert(new BsonDocument { ["name"] = "x" });

        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)));

        Assert.Contains("not a StoreForward outbox", error.Message, StringComparison.Ordinal);
        Assert.Contains("customers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_file_is_readable_by_its_owner_only()
    {
        await using (await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath)))
        {
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StorePath));
    }

    [Fact]
    public async Task Messages_and_sequences_survive_a_restart_and_sequences_never_restart_after_the_outbox_empties()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.Append("a", "1"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            store.Append("b", "22"u8, MqttQualityOfServiceLevel.ExactlyOnce, true, DateTimeOffset.UnixEpoch);
            store.CommitBatch();
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            Assert.Equal(2, store.Snapshot.PendingMessages);
            Assert.Equal(5, store.Snapshot.PendingBytes);
            var messages = store.ReadAfter(0, 10);
            Assert.Equal([1L, 2L], messages.Select(m => m.Sequence));
            Assert.Equal("22", Encoding.UTF8.GetString(messages[1].Payload));
            Assert.True(messages[1].Retain);
            Assert.Equal(MqttQualityOfServiceLevel.ExactlyOnce, messages[1].Qos);

            store.BeginBatch();
            foreach (var message in messages)
                store.Remove(message);
            store.CommitBatch();
            Assert.Equal(0, store.Snapshot.PendingMessages);
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            var next = store.Append("c", ""u8, MqttQualityOfServiceLevel.AtMostOnce, false, DateTimeOffset.UnixEpoch);
            store.CommitBatch();

            Assert.Equal(3, next);
        }
    }

    private void StoreFiveQos2Messages(long sentThrough, params long[] released)
    {
        using var store = OutboxStore.Open(StorePath);
        store.BeginBatch();
        for (var i = 0; i < 5; i++)
            store.Append("t", [(byte)i], MqttQualityOfServiceLevel.ExactlyOnce, false, DateTimeOffset.UnixEpoch);
        store.MarkSentThrough(sentThrough);
        foreach (var sequence in released)
            store.MarkReleased(sequence);
        store.CommitBatch();
    }

    [Fact]
    public void Recovery_reads_only_the_sent_head_with_each_recorded_pubrec()
    {
        StoreFiveQos2Messages(sentThrough: 2, released: 1);

        using (var store = OutboxStore.Open(StorePath))
        {
            var head = store.ReadSentRegion();

            Assert.Equal(2, store.SentThrough);
            Assert.Equal([(1L, StoredMark.PubrecRecorded), (2L, StoredMark.Sent)], head.Select(m => (m.Sequence, m.Mark)));

            // Removing the message removes its PUBREC record with it.
            store.BeginBatch();
            store.Remove(head[0]);
            store.MarkSentThrough(1);
            store.CommitBatch();
            Assert.Equal([(2L, StoredMark.Sent)], store.ReadSentRegion().Select(m => (m.Sequence, m.Mark)));
        }
    }

    [Fact]
    public void A_version_1_store_with_pubrec_rows_is_upgraded_in_place_and_keeps_every_pubrec()
    {
        StoreFiveQos2Messages(sentThrough: 4);

        // Rewrite the header as version 1 wrote it: no bitmap, one row per recorded PUBREC.
        using (var db = new LiteDatabase(StorePath))
        {
            var meta = db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id);
            meta["version"] = MetaDocument.RowPerPubRecVersion;
            meta.Remove(MetaDocument.ReleasedKey);
            meta.Remove("releasedFrom");
            db.GetCollection(MetaDocument.CollectionName).Update(meta);
            db.GetCollection(OutboxStore.ReleasedRowsName).Insert([new BsonDocument { ["_id"] = 1L }, new BsonDocument { ["_id"] = 3L }]);
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            Assert.Equal(
                [(1L, StoredMark.PubrecRecorded), (2L, StoredMark.Sent), (3L, StoredMark.PubrecRecorded), (4L, StoredMark.Sent)],
                store.ReadSentRegion().Select(m => (m.Sequence, m.Mark)));
        }

        using (var db = new LiteDatabase(StorePath))
        {
            Assert.Equal(MetaDocument.CurrentVersion, db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id)["version"].AsInt32);
            Assert.Equal(0, db.GetCollection(OutboxStore.ReleasedRowsName).Count());
        }

        using (var store = OutboxStore.Open(StorePath))
            Assert.Equal([1L, 3L], store.ReadSentRegion().Where(m => m.Mark == StoredMark.PubrecRecorded).Select(m => m.Sequence));
    }

    [Fact]
    public void A_store_of_a_newer_format_version_is_refused_naming_both_versions()
    {
        using (OutboxStore.Open(StorePath))
        {
        }

        using (var db = new LiteDatabase(StorePath))
        {
            var meta = db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id);
            meta["version"] = MetaDocument.CurrentVersion + 4;
            db.GetCollection(MetaDocument.CollectionName).Update(meta);
        }

        var error = Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(StorePath));

        Assert.Equal(OutboxStoreProblem.UnsupportedVersion, error.Problem);
        Assert.Contains("version 7", error.Message, StringComparison.Ordinal);
        Assert.Contains("version 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_the_queue_from_ever_new_sequences_leaves_nothing_behind_in_litedbs_expression_caches()
    {
        using var store = OutboxStore.Open(StorePath);
        store.BeginBatch();
        for (var i = 0; i < 600; i++)
            store.Append("t", [(byte)i], MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
        store.MarkSentThrough(3);
        store.CommitBatch();
        store.ReadAfter(0, 1);
        store.ReadSentRegion();
        var cached = CachedExpressions();

        for (var after = 1; after < 500; after++)
            Assert.Equal(after + 1, Assert.Single(store.ReadAfter(after, 1)).Sequence);
        store.BeginBatch();
        store.MarkSentThrough(500);
        store.CommitBatch();
        Assert.Equal(500, store.ReadSentRegion().Count);

        // LiteDB compiles every distinct expression text once and keeps it for the life of the process; a value written
        // into the text would make each read leak (Query.GT does that).
        Assert.Equal(cached, CachedExpressions());
    }

    private static int CachedExpressions() =>
        new[] { "_cacheScalar", "_cacheEnumerable" }
            .Select(name => typeof(BsonExpression).GetField(name, BindingFlags.Static | BindingFlags.NonPublic)?.GetValue(null) as System.Collections.ICollection
                ?? throw new InvalidOperationException($"LiteDB's BsonExpression has no cache field {name} any more; check how this version caches expressions."))
            .Sum(cache => cache.Count);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(65_535, 65_535)]
    [InlineData(65_536, 1)]
    [InlineData(131_071, 1)]
    public void Packet_ids_derive_from_sequences_and_skip_zero(long sequence, int packetId) =>
        Assert.Equal(packetId, PacketIds.Of(sequence));

    [Fact]
    public void A_new_store_has_no_broker_session_until_one_is_recorded_with_its_server()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            Assert.Null(store.SessionServer);
            store.BeginBatch();
            store.MarkSessionEstablished("127.0.0.1:1883");
            store.CommitBatch();
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            Assert.Equal("127.0.0.1:1883", store.SessionServer);
            store.BeginBatch();
            store.MarkSessionEstablished("[::1]:8883");
            store.CommitBatch();
        }

        using (var store = OutboxStore.Open(StorePath))
            Assert.Equal("[::1]:8883", store.SessionServer);
    }

    [Fact]
    public void A_store_whose_session_predates_the_server_record_reports_a_session_with_an_unknown_server()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("127.0.0.1:1883");
            store.CommitBatch();
        }

        // What a store written before servers were recorded holds: session = true, no server.
        using (var db = new LiteDB.LiteDatabase(StorePath))
        {
            var meta = db.GetCollection(MetaDocument.CollectionName);
            var document = meta.FindAll().Single();
            document.Remove("server");
            meta.Update(document);
        }

        using (var store = OutboxStore.Open(StorePath))
            Assert.Equal("", store.SessionServer);
    }

    [Fact]
    public void A_commit_whose_fsync_fails_has_an_unknown_outcome_and_never_makes_a_sequence_repeat()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            Assert.Equal(1, store.Append("t", "1"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch));
            store.CommitBatch();

            // The log pages are written, then the fsync fails: the data may well be on disk.
            store.LogFile.Faults = new Faults.FailingSync(new IOException("injected fsync failure"));
            store.BeginBatch();
            Assert.Equal(2, store.Append("t", "2"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch));
            Assert.Throws<IOException>(() => store.CommitBatch());
            Assert.False(store.RollbackBatch());
            store.LogFile.Faults = null;

            // The store continues from what the disk holds, so the next message never reuses sequence 2.
            store.BeginBatch();
            var third = store.Append("t", "3"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            store.CommitBatch();
            Assert.True(third > 2);
            Assert.Equal(store.ReadAfter(0, 10).Count, store.Snapshot.PendingMessages);
        }

        using (var reopened = OutboxStore.Open(StorePath))
        {
            var sequences = reopened.ReadAfter(0, 10).Select(m => m.Sequence).ToList();
            Assert.Equal(sequences.Distinct().Count(), sequences.Count);
            Assert.Contains(1L, sequences);
            Assert.Equal(reopened.Snapshot.PendingMessages, sequences.Count);
        }
    }

    [Fact]
    public void A_commit_that_hits_a_full_disk_stores_nothing_and_leaves_no_finalizer_to_crash_the_process()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.Append("t", "1"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            store.CommitBatch();

            var full = new Faults.FullDisk();
            store.LogFile.Faults = full;
            store.DataFile.Faults = full;
            store.BeginBatch();
            store.Append("t", new byte[100_000], MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            Assert.Throws<IOException>(() => store.CommitBatch());
            Assert.True(store.RollbackBatch());
            store.LogFile.Faults = null;
            store.DataFile.Faults = null;

            Assert.Equal(1, store.Snapshot.PendingMessages);
            store.BeginBatch();
            Assert.Equal(2, store.Append("t", "2"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch));
            store.CommitBatch();
        }

        using var reopened = OutboxStore.Open(StorePath);
        Assert.Equal([1L, 2L], reopened.ReadAfter(0, 10).Select(m => m.Sequence));
    }

    [Fact]
    public async Task A_failed_commit_leaves_no_finalizer_behind_that_would_crash_the_process()
    {
        var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath));
        await publisher.SetStorageFaultsForTests(new Faults.FullDisk());
        await Assert.ThrowsAsync<OutboxStoreException>(() => publisher.PublishAsync("t", new byte[100_000]));
        await publisher.SetStorageFaultsForTests(null);

        // The writer thread ends with the publisher, so LiteDB's half-committed transaction (held in its thread-local
        // slot) becomes garbage. Its finalizer throws; if it still ran, it would end this process right here.
        await publisher.DisposeAsync();
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        await using var reopened = await StoreForwardPublisher.StartAsync(TestOptions.Offline(StorePath));
        Assert.Equal(0, reopened.Status.PendingMessages);
    }

    [Fact]
    public async Task A_publish_whose_commit_failed_reports_an_unknown_outcome_and_publishing_goes_on()
    {
        var options = TestOptions.Offline(StorePath);
        await using var publisher = await StoreForwardPublisher.StartAsync(options);
        await publisher.PublishAsync("t", new byte[1]);

        await publisher.SetStorageFaultsForTests(new Faults.FailingSync(new IOException("injected fsync failure")));
        var error = await Assert.ThrowsAsync<OutboxStoreException>(() => publisher.PublishAsync("t", new byte[2]));
        Assert.Contains("unknown", error.Message, StringComparison.Ordinal);
        Assert.Contains("injected fsync failure", error.Message, StringComparison.Ordinal);

        var after = await publisher.PublishAsync("t", new byte[3]);
        Assert.True(after.Sequence >= 3);
    }

    [Fact]
    public void The_log_is_checkpointed_into_the_data_file_after_commits_and_nothing_is_lost()
    {
        var payload = new byte[64 * 1024];
        using (var store = OutboxStore.Open(StorePath))
        {
            for (var batch = 0; batch < 20; batch++)
            {
                store.BeginBatch();
                for (var i = 0; i < 10; i++)
                    store.Append("t", payload, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
                store.CommitBatch();
            }

            // 12.5 MiB went through a log that is checkpointed once it passes 8 MB.
            Assert.True(new FileInfo(OutboxStore.LogPathOf(StorePath)).Length < 8_192_000);
            Assert.True(new FileInfo(StorePath).Length > 5_000_000);
        }

        using var reopened = OutboxStore.Open(StorePath);
        Assert.Equal(200, reopened.Snapshot.PendingMessages);
        Assert.Equal(200, reopened.ReadAfter(0, 1000).Count);
    }

    [Fact]
    public void A_rolled_back_batch_leaves_the_counters_the_pubrecs_and_the_file_as_they_were()
    {
        using var store = OutboxStore.Open(StorePath);
        store.BeginBatch();
        store.Append("t", "x"u8, MqttQualityOfServiceLevel.ExactlyOnce, false, DateTimeOffset.UnixEpoch);
        store.MarkSentThrough(1);
        store.CommitBatch();

        store.BeginBatch();
        store.Append("t", "x"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
        store.MarkReleased(1);
        store.RollbackBatch();

        Assert.Equal(1, store.Snapshot.PendingMessages);
        Assert.Equal(StoredMark.Sent, Assert.Single(store.ReadSentRegion()).Mark);
        store.BeginBatch();
        Assert.Equal(2, store.Append("t", "x"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch));
        store.CommitBatch();
        Assert.Equal(2, store.ReadAfter(0, 10).Count);
        Assert.Equal(StoredMark.Sent, Assert.Single(store.ReadSentRegion()).Mark);
    }

    [Fact]
    public void Delivery_attempts_of_in_flight_messages_survive_a_restart_a_rollback_leaves_them_and_they_leave_with_the_message()
    {
        StoreFiveQos2Messages(sentThrough: 2);
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.RecordAttempts(2, 3);
            store.CommitBatch();
            store.BeginBatch();
            store.RecordAttempts(2, 4);
            store.RollbackBatch();
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            var sent = store.ReadSentRegion();
            Assert.Equal([(1L, 0), (2L, 3)], sent.Select(m => (m.Sequence, m.Attempts)));
            store.BeginBatch();
            store.Remove(sent[1]);
            store.CommitBatch();
        }

        using var db = new LiteDatabase(StorePath);
        Assert.Empty(db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id)["attempts"].AsDocument.Keys);
    }
}
