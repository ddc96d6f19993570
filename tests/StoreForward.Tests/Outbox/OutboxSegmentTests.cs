using System.Text;
using LiteDB;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

/// <summary>How the store keeps messages appended together in one document, and removes them one by one.</summary>
[Trait("Category", "Unit")]
public sealed class OutboxSegmentTests : StoreTest
{
    private static void Remove(OutboxStore store, IEnumerable<OutboxMessage> messages)
    {
        store.BeginBatch();
        foreach (var message in messages)
            store.Remove(message);
        store.CommitBatch();
    }

    private List<(long First, int Length)> StoredDocuments()
    {
        using var db = new LiteDatabase(StorePath);
        return [.. db.GetCollection(OutboxStore.MessagesName).FindAll().Select(d => (d["_id"].AsInt64, d.TryGetValue("m", out var m) ? m.AsArray.Count : 1))];
    }

    [Fact]
    public void A_batch_is_stored_in_documents_of_at_most_256_messages_and_1_MiB_and_reads_back_in_order()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            AppendBatch(store, 600);
            AppendBatch(store, 3, payloadBytes: 600 * 1024);
            AppendBatch(store, 1);
        }

        Assert.Equal([(1L, 256), (257L, 256), (513L, 88), (601L, 1), (602L, 1), (603L, 1), (604L, 1)], StoredDocuments());
        using var reopened = OutboxStore.Open(StorePath);
        var messages = reopened.ReadAfter(0, 1_000);
        Assert.Equal(Enumerable.Range(1, 604).Select(i => (long)i), messages.Select(m => m.Sequence));
        Assert.Equal(unchecked((byte)555), messages[555].Payload[0]);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(555), messages[555].StoredAt);
        Assert.Equal(600 * 1024, messages[601].Payload.Length);
    }

    [Fact]
    public void A_document_stays_until_its_last_message_is_removed_and_removed_messages_stay_removed_across_a_restart()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            AppendBatch(store, 5);
            var messages = store.ReadAfter(0, 10);
            Remove(store, [messages[0], messages[2], messages[4]]);
        }

        Assert.Equal([(1L, 5)], StoredDocuments());
        using (var store = OutboxStore.Open(StorePath))
        {
            Assert.Equal(2, store.Snapshot.PendingMessages);
            Assert.Equal(2, store.Snapshot.OldestSequence);
            Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(1), store.Snapshot.OldestStoredAt);
            var live = store.ReadAfter(0, 10);
            Assert.Equal([2L, 4L], live.Select(m => m.Sequence));
            Assert.Equal([4L], store.ReadAfter(2, 10).Select(m => m.Sequence));

            Remove(store, live);
            Assert.Equal(0, store.Snapshot.PendingMessages);
            Assert.Equal(0, store.Snapshot.OldestSequence);
        }

        Assert.Empty(StoredDocuments());
        using (var db = new LiteDatabase(StorePath))
            Assert.Empty(db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id)[MetaDocument.RemovedKey].AsBinary);
    }

    [Fact]
    public void Removing_a_message_again_changes_nothing_even_after_its_document_is_gone()
    {
        using var store = OutboxStore.Open(StorePath);
        AppendBatch(store, 3);
        var messages = store.ReadAfter(0, 10);

        Remove(store, [messages[0], messages[0]]);
        Remove(store, [messages[0]]);
        Assert.Equal(2, store.Snapshot.PendingMessages);

        Remove(store, [messages[1], messages[2]]);
        Remove(store, messages);
        AppendBatch(store, 1);

        Assert.Equal(1, store.Snapshot.PendingMessages);
        Assert.Equal(OutboxMessage.StoredSize("t", 1), store.Snapshot.PendingBytes);
        Assert.Equal([4L], store.ReadAfter(0, 10).Select(m => m.Sequence));
    }

    [Fact]
    public void A_rolled_back_removal_of_the_last_message_keeps_the_document_and_its_message()
    {
        using var store = OutboxStore.Open(StorePath);
        AppendBatch(store, 2, qos: MqttQualityOfServiceLevel.ExactlyOnce);
        var messages = store.ReadAfter(0, 10);
        store.BeginBatch();
        store.MarkSentThrough(2);
        store.MarkReleased(2);
        store.CommitBatch();
        Remove(store, [messages[0]]);

        store.BeginBatch();
        store.Remove(messages[1]);
        store.RollbackBatch();

        Assert.Equal(1, store.Snapshot.PendingMessages);
        Assert.Equal(2, store.Snapshot.OldestSequence);
        Assert.Equal([(2L, StoredMark.PubrecRecorded)], store.ReadSentRegion().Select(m => (m.Sequence, m.Mark)));

        // The cache of live counts was rolled back too: this removal is the segment's last.
        Remove(store, [messages[1]]);
        Assert.Equal(0, store.Snapshot.PendingMessages);
        Assert.Empty(store.ReadAfter(0, 10));
    }

    [Fact]
    public void The_newest_segment_is_read_as_written_and_never_once_it_is_deleted_or_its_batch_undone()
    {
        using var store = OutboxStore.Open(StorePath);
        AppendBatch(store, 3);
        Assert.Equal([1L, 2L, 3L], store.ReadAfter(0, 10).Select(m => m.Sequence));
        Assert.Equal([3L], store.ReadAfter(2, 10).Select(m => m.Sequence));

        // Its last message removed, the segment is deleted: nothing of it may be read again.
        Remove(store, store.ReadAfter(0, 10));
        Assert.Empty(store.ReadAfter(0, 10));

        // A segment written by a batch that was undone was never stored.
        store.BeginBatch();
        store.Append("plant/t", [9], MqttQualityOfServiceLevel.AtLeastOnce, retain: false, DateTimeOffset.UtcNow);
        Assert.Equal([4L], store.ReadAfter(3, 10).Select(m => m.Sequence));
        store.RollbackBatch();
        Assert.Empty(store.ReadAfter(3, 10));
        Assert.Empty(store.ReadAfter(0, 10));
    }

    [Fact]
    public void A_version_2_store_of_one_document_per_message_is_read_as_it_is_and_its_first_commit_makes_it_version_3()
    {
        using (OutboxStore.Open(StorePath))
        {
        }

        // Write the store as version 2 did: a document per message, no removed set, and message 1's PUBREC recorded.
        using (var db = new LiteDatabase(StorePath))
        {
            var meta = db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id);
            meta["version"] = MetaDocument.DocumentPerMessageVersion;
            meta.Remove(MetaDocument.RemovedKey);
            meta.Remove("removedFrom");
            meta["next"] = 4L;
            meta["sent"] = 2L;
            meta["count"] = 3L;
            meta["bytes"] = 6L;
            meta["releasedFrom"] = 1L;
            meta[MetaDocument.ReleasedKey] = new byte[] { 1 };
            db.GetCollection(MetaDocument.CollectionName).Update(meta);
            for (var i = 1; i <= 3; i++)
            {
                db.GetCollection(OutboxStore.MessagesName).Insert(new BsonDocument
                {
                    ["_id"] = (long)i,
                    ["t"] = "t",
                    ["p"] = Encoding.UTF8.GetBytes($"{i}"),
                    ["q"] = 2,
                    ["r"] = false,
                    ["ts"] = DateTimeOffset.UnixEpoch.AddSeconds(i).UtcTicks,
                });
            }
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            Assert.Equal(1, store.Snapshot.OldestSequence);
            Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(1), store.Snapshot.OldestStoredAt);
            var sent = store.ReadSentRegion();
            Assert.Equal([(1L, StoredMark.PubrecRecorded), (2L, StoredMark.Sent)], sent.Select(m => (m.Sequence, m.Mark)));
            Assert.Equal("3", Encoding.UTF8.GetString(Assert.Single(store.ReadAfter(2, 10)).Payload));

            Remove(store, [sent[0]]);
            AppendBatch(store, 2);
            Assert.Equal([2L, 3L, 4L, 5L], store.ReadAfter(0, 10).Select(m => m.Sequence));
        }

        Assert.Equal([(2L, 1), (3L, 1), (4L, 2)], StoredDocuments());
        using (var db = new LiteDatabase(StorePath))
            Assert.Equal(MetaDocument.CurrentVersion, db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id)["version"].AsInt32);
    }

    [Fact]
    public void A_read_that_goes_on_where_the_last_one_ended_finds_the_next_live_message_in_the_same_document_or_a_later_one()
    {
        using var store = OutboxStore.Open(StorePath);
        AppendBatch(store, 3);
        AppendBatch(store, 2);

        Assert.Equal([1L, 2L], store.ReadAfter(0, 2).Select(m => m.Sequence));
        Assert.Equal([3L], store.ReadAfter(2, 1).Select(m => m.Sequence));
        Assert.Equal([4L], store.ReadAfter(3, 1).Select(m => m.Sequence));

        // The last read ended inside the first document; then that document went whole, and message 4 was removed.
        var four = store.ReadAfter(0, 4);
        Assert.Equal(2, store.ReadAfter(0, 2)[^1].Sequence);
        Remove(store, four);
        Assert.Equal([5L], store.ReadAfter(2, 10).Select(m => m.Sequence));
    }
}
