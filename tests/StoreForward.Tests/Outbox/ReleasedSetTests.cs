using LiteDB;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

public sealed class ReleasedSetTests
{
    private static ReleasedSet RoundTrip(ReleasedSet set, out BsonDocument meta)
    {
        meta = new BsonDocument();
        set.WriteTo(meta);
        return ReleasedSet.ReadFrom(meta);
    }

    private static long[] Members(ReleasedSet set, long from, long to) =>
        Enumerable.Range(0, (int)(to - from + 1)).Select(i => from + i).Where(set.Contains).ToArray();

    [Fact]
    public void An_empty_set_reads_back_empty()
    {
        var read = RoundTrip(ReleasedSet.Empty(), out _);

        Assert.Equal(0, read.Count);
    }

    [Fact]
    public void A_window_of_mixed_qos_reads_back_exactly_in_a_few_bytes()
    {
        // Every third sequence a QoS 2 message with its PUBREC, as when QoS 1 and QoS 2 publishes interleave.
        long[] members = [.. Enumerable.Range(0, 100).Select(i => 1_000_003L + (3 * i))];
        var read = RoundTrip(ReleasedSet.Migrated(members), out var meta);

        Assert.Equal(members, Members(read, 1_000_000, 1_000_400));
        Assert.True(meta["released"].AsBinary.Length <= 38, $"{meta["released"].AsBinary.Length} bytes");
    }

    [Fact]
    public void The_widest_span_the_session_allows_fits_in_eight_kib()
    {
        // Packet ids derive from sequences, so nothing in flight lies 65,535 or more above the oldest stored message.
        var read = RoundTrip(ReleasedSet.Migrated([7, 7 + 65_534]), out var meta);

        Assert.Equal([7L, 65_541L], Members(read, 0, 70_000));
        Assert.True(meta["released"].AsBinary.Length <= 8192);
    }

    [Fact]
    public void Undo_reverts_every_change_since_the_last_commit_and_only_those()
    {
        var set = ReleasedSet.Empty();
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
}
