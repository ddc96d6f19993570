using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

/// <summary>Which messages <see cref="OutboxStore.DropOldestUnsent"/> may drop: only ones that cannot be at the broker.</summary>
[Trait("Category", "Unit")]
public sealed class DropOldestTests : StoreTest
{
    private static List<long>? Drop(OutboxStore store, long messages, long bytes = 0)
    {
        store.BeginBatch();
        var dropped = store.DropOldestUnsent(messages, bytes);
        store.CommitBatch();
        return dropped?.Select(d => d.Sequence).ToList();
    }

    [Fact]
    public void Messages_up_to_the_sent_mark_and_those_read_for_sending_are_never_dropped_until_the_session_lets_them_go()
    {
        using var store = OutboxStore.Open(StorePath);
        AppendBatch(store, 10);
        store.BeginBatch();
        store.MarkSentThrough(3);
        store.CommitBatch();
        store.ReadAfter(3, 2);

        Assert.Equal([6L, 7L], Drop(store, 2));
        store.ForgetHandedOut();
        Assert.Equal([4L], Drop(store, 1));
        Assert.Equal(7, store.Snapshot.PendingMessages);
        Assert.Equal(3, store.Snapshot.Dropped);
        Assert.Equal([1L, 2L, 3L, 5L, 8L, 9L, 10L], store.ReadAfter(0, 100).Select(m => m.Sequence));
    }

    [Fact]
    public void Enough_messages_are_dropped_to_free_the_bytes_or_none_when_too_few_can_go()
    {
        using var store = OutboxStore.Open(StorePath);
        AppendBatch(store, 4, payloadBytes: 9);

        // Each message counts 10 bytes (topic and payload): freeing 25 takes three.
        Assert.Equal([1L, 2L, 3L], Drop(store, 0, 25));
        Assert.Null(Drop(store, 2));
        Assert.Equal([4L], store.ReadAfter(0, 10).Select(m => m.Sequence));
        Assert.Equal(3, store.Snapshot.Dropped);
    }

    [Fact]
    public void A_message_appended_earlier_in_the_same_batch_can_be_dropped_and_a_rolled_back_drop_is_undone()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.Append("t", "a"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            Assert.Equal([1L], store.DropOldestUnsent(1, 0)!.Select(d => d.Sequence));
            store.Append("t", "b"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            store.CommitBatch();
            Assert.Equal([2L], store.ReadAfter(0, 10).Select(m => m.Sequence));

            store.ForgetHandedOut();
            store.BeginBatch();
            Assert.NotNull(store.DropOldestUnsent(1, 0));
            store.RollbackBatch();
            Assert.Equal(1, store.Snapshot.PendingMessages);
        }

        using var reopened = OutboxStore.Open(StorePath);
        Assert.Equal(1, reopened.Snapshot.Dropped);
        Assert.Equal([2L], reopened.ReadAfter(0, 10).Select(m => m.Sequence));
    }

    [Fact]
    public void A_candidate_superseded_since_it_was_read_is_skipped_and_exactly_enough_live_messages_go()
    {
        using var store = OutboxStore.Open(StorePath);
        store.BeginBatch();
        store.Append("x", "1"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
        store.Append("t", "2"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch, coalesce: true);
        store.Append("x", "3"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
        store.CommitBatch();
        Assert.Equal([1L], Drop(store, 1));

        // Message 2 is in the drop candidates read ahead; superseding it deletes its document.
        store.BeginBatch();
        store.Append("t", "4"u8, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch, coalesce: true);
        store.CommitBatch();

        Assert.Equal([3L], Drop(store, 1));
        Assert.Equal([4L], store.ReadAfter(0, 10).Select(m => m.Sequence));
    }
}
