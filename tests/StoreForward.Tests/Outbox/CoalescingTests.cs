using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

/// <summary>Which earlier message a coalesced append replaces: only the topic's newest one, and only while it was never sent.</summary>
[Trait("Category", "Unit")]
public sealed class CoalescingTests : StoreTest
{
    private static long Append(OutboxStore store, string topic, bool coalesce = true) =>
        store.Append(topic, "v"u8, MqttQualityOfServiceLevel.AtLeastOnce, true, DateTimeOffset.UnixEpoch, coalesce: coalesce);

    private static List<(long, string)> Stored(OutboxStore store) => [.. store.ReadAfter(0, 100).Select(m => (m.Sequence, m.Topic))];

    [Fact]
    public void Only_the_newest_unsent_message_of_each_coalesced_topic_stays_across_batches_and_restarts()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            Append(store, "a");
            Append(store, "b");
            Append(store, "a");
            Append(store, "c", coalesce: false);
            store.CommitBatch();
        }

        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            Append(store, "a");
            Append(store, "c", coalesce: false);
            store.CommitBatch();

            Assert.Equal([(2L, "b"), (4L, "c"), (5L, "a"), (6L, "c")], Stored(store));
            Assert.Equal(2, store.Snapshot.Superseded);
            Assert.Equal(4, store.Snapshot.PendingMessages);
        }
    }

    [Fact]
    public void A_message_that_may_have_been_sent_or_was_read_for_sending_is_never_superseded_and_a_rollback_undoes_a_supersede()
    {
        using var store = OutboxStore.Open(StorePath);
        store.BeginBatch();
        Append(store, "sent");
        Append(store, "read");
        Append(store, "free");
        store.MarkSentThrough(1);
        store.CommitBatch();
        Assert.Equal([2L], store.ReadAfter(1, 1).Select(m => m.Sequence));

        store.BeginBatch();
        Append(store, "sent");
        Append(store, "read");
        store.CommitBatch();
        store.BeginBatch();
        Append(store, "free");
        store.RollbackBatch();

        Assert.Equal([1L, 2L, 3L, 4L, 5L], store.ReadAfter(0, 100).Select(m => m.Sequence));
        Assert.Equal(0, store.Snapshot.Superseded);

        // That read handed everything to a session; once it lets go, the unsent "free" may be superseded.
        store.ForgetHandedOut();
        store.BeginBatch();
        Append(store, "free");
        store.CommitBatch();
        Assert.Equal([1L, 2L, 4L, 5L, 6L], store.ReadAfter(0, 100).Select(m => m.Sequence));
        Assert.Equal(1, store.Snapshot.Superseded);
    }

    [Fact]
    public void A_coalesced_message_has_a_document_of_its_own_so_superseding_it_leaves_no_removed_bit_behind()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            Append(store, "plain", coalesce: false);
            Append(store, "a");
            Append(store, "plain", coalesce: false);
            Append(store, "plain", coalesce: false);
            store.CommitBatch();
            store.BeginBatch();
            Append(store, "a");
            store.CommitBatch();
        }

        using var db = new LiteDB.LiteDatabase(StorePath);
        Assert.Equal([1L, 3L, 5L], db.GetCollection(OutboxStore.MessagesName).FindAll().Select(d => d["_id"].AsInt64));
        Assert.Empty(db.GetCollection(MetaDocument.CollectionName).FindById(MetaDocument.Id)[MetaDocument.RemovedKey].AsBinary);
    }

    [Theory]
    [InlineData(OverflowPolicy.Reject)]
    [InlineData(OverflowPolicy.DropOldest)]
    [InlineData(OverflowPolicy.Wait)]
    public async Task A_coalesced_publish_that_replaces_a_message_needs_no_room_under_any_overflow_policy(OverflowPolicy policy)
    {
        var options = TestOptions.Offline(StorePath);
        options.MaxPendingMessages = 2;
        options.OverflowPolicy = policy;
        options.CoalescedTopics = ["t"];
        await using var publisher = await StoreForwardPublisher.StartAsync(options);

        await publisher.PublishAsync("x", "1"u8.ToArray());
        await publisher.PublishAsync("t", "2"u8.ToArray());
        await publisher.PublishAsync("t", "3"u8.ToArray()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((2L, 0L, 1L), (publisher.Status.PendingMessages, publisher.Status.Dropped, publisher.Status.Superseded));
    }
}
