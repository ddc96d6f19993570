using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// The QoS 2 messages whose PUBREC is recorded, kept inside the store's meta document as a bitmap instead of as rows of
/// their own: the meta document is rewritten by every commit anyway, while a row per PUBREC cost an index insert and an
/// index delete per message on the writer thread, the bottleneck of a QoS 2 drain.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Every member is a stored QoS 2 message that was sent, so it lies between the oldest stored sequence and the highest
/// sent one. The session never sends a message 65,535 or more sequences above the oldest stored one (packet ids derive
/// from sequences), so the bitmap spans at most 65,535 bits (8 KiB), and a window of 100 needs a few dozen bytes.</item>
/// <item>Changes are undone in reverse on a rolled back batch (<see cref="Undo"/>) and forgotten once committed
/// (<see cref="Commit"/>), so the set always equals what is on disk outside a batch.</item>
/// </list>
/// </remarks>
internal sealed class ReleasedSet
{
    private const string FromKey = "releasedFrom";
    private const string BitsKey = "released";

    private readonly HashSet<long> _sequences;
    private readonly List<(long Sequence, bool Added)> _uncommitted = [];

    private ReleasedSet(HashSet<long> sequences) => _sequences = sequences;

    public static ReleasedSet Empty() => new([]);

    public int Count => _sequences.Count;

    public bool Contains(long sequence) => _sequences.Contains(sequence);

    public void Add(long sequence)
    {
        if (_sequences.Add(sequence))
            _uncommitted.Add((sequence, true));
    }

    public void Remove(long sequence)
    {
        if (_sequences.Remove(sequence))
            _uncommitted.Add((sequence, false));
    }

    /// <summary>The batch that made the changes since the last commit landed.</summary>
    public void Commit() => _uncommitted.Clear();

    /// <summary>The batch that made the changes since the last commit was rolled back.</summary>
    public void Undo()
    {
        for (var i = _uncommitted.Count - 1; i >= 0; i--)
        {
            var (sequence, added) = _uncommitted[i];
            if (added)
                _sequences.Remove(sequence);
            else
                _sequences.Add(sequence);
        }

        _uncommitted.Clear();
    }

    /// <summary>Writes the set into <paramref name="meta"/>: the lowest member, and one bit per sequence from it on.</summary>
    public void WriteTo(BsonDocument meta)
    {
        if (_sequences.Count == 0)
        {
            meta[FromKey] = 0L;
            meta[BitsKey] = Array.Empty<byte>();
            return;
        }

        long from = long.MaxValue, to = long.MinValue;
        foreach (var sequence in _sequences)
        {
            from = Math.Min(from, sequence);
            to = Math.Max(to, sequence);
        }

        // Checked: a span beyond an int would mean the invariant above broke, and must not become a short bitmap.
        var bits = new byte[checked((int)((to - from) / 8 + 1))];
        foreach (var sequence in _sequences)
        {
            var offset = sequence - from;
            bits[offset / 8] |= (byte)(1 << (int)(offset % 8));
        }

        meta[FromKey] = from;
        meta[BitsKey] = bits;
    }

    /// <summary>Reads the set that <see cref="WriteTo"/> wrote.</summary>
    public static ReleasedSet ReadFrom(BsonDocument meta)
    {
        var from = meta[FromKey].AsInt64;
        var bits = meta[BitsKey].AsBinary ?? throw new InvalidCastException($"the meta document's '{BitsKey}' is not binary.");
        var sequences = new HashSet<long>();
        for (var i = 0; i < bits.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                if ((bits[i] & (1 << bit)) != 0)
                    sequences.Add(from + (i * 8L) + bit);
            }
        }

        return new ReleasedSet(sequences);
    }

    /// <summary>A set read from the rows of a version 1 store, to be written by the migration's commit.</summary>
    public static ReleasedSet Migrated(IEnumerable<long> sequences)
    {
        var set = Empty();
        foreach (var sequence in sequences)
            set.Add(sequence);
        return set;
    }
}
