using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// A set of sequences kept inside the store's meta document as a bitmap instead of as rows of their own: the meta document
/// is rewritten by every commit anyway, while a row per member cost an index insert and an index delete on the writer
/// thread, the bottleneck of a drain. The store keeps two: the QoS 2 messages whose PUBREC is recorded, and the messages
/// removed from segments that still hold others.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Every member lies between the oldest stored sequence and the oldest plus 65,535 plus one segment: only sent
/// messages get a PUBREC or are acknowledged, and the session never sends a message 65,535 or more sequences above the
/// oldest stored one (packet ids derive from sequences). Other removals happen where sending does (dead letters, expiry,
/// QoS 0), from the oldest unsent message on (DropOldest, whose segments then empty whole), or to coalesced messages,
/// which have segments of their own and so never leave a bit. So the bitmap spans at most about 66,000 bits (8.1 KiB),
/// and a window of 100 needs a few dozen bytes.</item>
/// <item>Changes are undone in reverse on a rolled back batch (<see cref="Undo"/>) and forgotten once committed
/// (<see cref="Commit"/>), so the set always equals what is on disk outside a batch.</item>
/// </list>
/// </remarks>
internal sealed class SequenceSet
{
    private readonly string _fromKey;
    private readonly string _bitsKey;
    private readonly HashSet<long> _sequences;
    private readonly List<(long Sequence, bool Added)> _uncommitted = [];

    private SequenceSet(string key, HashSet<long> sequences)
    {
        _bitsKey = key;
        _fromKey = key + "From";
        _sequences = sequences;
    }

    /// <summary>An empty set stored under <paramref name="key"/> (the bitmap) and <c>keyFrom</c> (its lowest member).</summary>
    public static SequenceSet Empty(string key) => new(key, []);

    public int Count => _sequences.Count;

    public bool Contains(long sequence) => _sequences.Contains(sequence);

    /// <summary>How many of the <paramref name="length"/> sequences from <paramref name="first"/> on are members.</summary>
    public int CountIn(long first, int length)
    {
        var count = 0;
        for (var i = 0; i < length; i++)
        {
            if (_sequences.Contains(first + i))
                count++;
        }

        return count;
    }

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

    /// <summary>Removes every member.</summary>
    public void Clear()
    {
        foreach (var sequence in _sequences.ToList())
            Remove(sequence);
    }

    /// <summary>Removes the <paramref name="length"/> sequences from <paramref name="first"/> on.</summary>
    public void RemoveRange(long first, int length)
    {
        for (var i = 0; i < length; i++)
            Remove(first + i);
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
            meta[_fromKey] = 0L;
            meta[_bitsKey] = Array.Empty<byte>();
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

        meta[_fromKey] = from;
        meta[_bitsKey] = bits;
    }

    /// <summary>
    /// Reads the set that <see cref="WriteTo"/> wrote under <paramref name="key"/>; empty when the document has no such
    /// set, as in a store of an older format version that did not keep it.
    /// </summary>
    public static SequenceSet ReadFrom(BsonDocument meta, string key)
    {
        var sequences = new HashSet<long>();
        if (!meta.TryGetValue(key, out var stored))
            return new SequenceSet(key, sequences);

        var from = meta[key + "From"].AsInt64;
        var bits = stored.AsBinary ?? throw new InvalidCastException($"the meta document's '{key}' is not binary.");
        for (var i = 0; i < bits.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                if ((bits[i] & (1 << bit)) != 0)
                    sequences.Add(from + (i * 8L) + bit);
            }
        }

        return new SequenceSet(key, sequences);
    }

    /// <summary>A set of <paramref name="sequences"/>, all uncommitted, as an upgrade builds it to write in its commit.</summary>
    public static SequenceSet Of(string key, IEnumerable<long> sequences)
    {
        var set = Empty(key);
        foreach (var sequence in sequences)
            set.Add(sequence);
        return set;
    }
}
