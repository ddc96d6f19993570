using LiteDB;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

[Trait("Category", "Unit")]
public sealed class SequenceSetTests
{
    private static SequenceSet RoundTrip(SequenceSet set, out BsonDocument meta)
    {
        meta = new BsonDocument();
        set.WriteTo(meta);
        return SequenceSet.ReadFrom(meta, "released");
    }

    private static long[] Members(SequenceSet set, long from, long to) =>
        Enumerable.Range(0, (int)(to - from + 1)).Select(i => from + i).Where(set.Contains).ToArray();

    [Fact]
    public void An_empty_set_reads_back_empty()
    {
        var read = RoundTrip(SequenceSet.Empty("released"), out _);

        Assert.Equal(0, read.Count);
    }

    [Fact]
    public void A_window_of_mixed_qos_reads_back_exactly_in_a_few_bytes()
    {
        // Every third sequence a QoS 2 message with its PUBREC, as when QoS 1 and QoS 2 publishes interleave.
        long[] members = [.. Enumerable.Range(0, 100).Select(i => 1_000_003L + (3 * i))];
        var read = RoundTrip(SequenceSet.Of("released", members), out var meta);

        Assert.Equal(members, Members(read, 1_000_000, 1_000_400));
        Assert.True(meta["released"].AsBinary.Length <= 38, $"{meta["released"].AsBinary.Length} bytes");
    }

    [Fact]
    public void The_widest_span_the_session_allows_fits_in_eight_kib()
    {
        // Packet ids derive from sequences, so nothing in flight lies 65,535 or more above the oldest stored message.
        var read = RoundTrip(SequenceSet.Of("released", [7, 7 + 65_534]), out var meta);

        Assert.Equal([7L, 65_541L], Members(read, 0, 70_000));
        Assert.True(meta["released"].AsBinary.Length <= 8192);
    }

    [Fact]
    public void Undo_reverts_every_change_since_the_last_commit_and_only_those()
    {
        var set = SequenceSet.Empty("released");
        set.Add(1);
        set.Add(2);
        set.Commit();

        set.Add(3);
        set.Remove(1);
        set.Add(1);
        set.Remove(2);
        set.Remove(9);
        set.Undo();

        Assert.Equal([1L, 2L], Members(set, 0, 10));
    }

    [Fact]
    public void A_document_without_the_set_reads_as_empty_and_two_sets_keep_to_their_own_keys()
    {
        var meta = new BsonDocument();
        SequenceSet.Of("removed", [5, 6]).WriteTo(meta);

        Assert.Equal(0, SequenceSet.ReadFrom(meta, "released").Count);
        Assert.Equal([5L, 6L], Members(SequenceSet.ReadFrom(meta, "removed"), 0, 10));
    }

    [Fact]
    public void A_range_is_counted_and_removed_as_a_whole_and_undone_as_a_whole()
    {
        var set = SequenceSet.Of("removed", [3, 4, 6, 9]);
        set.Commit();

        Assert.Equal(3, set.CountIn(3, 4));
        set.RemoveRange(3, 4);
        Assert.Equal([9L], Members(set, 0, 10));
        set.Undo();
        Assert.Equal([3L, 4L, 6L, 9L], Members(set, 0, 10));
    }
}
