namespace StoreForward.Subscribing;

/// <summary>
/// The sequences seen from one publisher, as a ring of bits over the newest <see cref="Capacity"/> sequences: constant
/// memory however long the publisher runs.
/// </summary>
/// <remarks>
/// Invariant: the bit of a sequence s with <c>_highest - Capacity &lt; s &lt;= _highest</c> is set exactly when s was seen;
/// bits of sequences past <c>_highest</c> are clear (they are cleared as <c>_highest</c> moves over them).
/// </remarks>
internal sealed class SequenceWindow(int size)
{
    private readonly ulong[] _bits = new ulong[(size + 63) / 64];
    private long _highest;

    public long Capacity => _bits.Length * 64L;

    /// <summary>
    /// Records <paramref name="sequence"/> and says whether it was seen before. One older than the window is reported as
    /// seen: it cannot be told apart, and a repeat is far likelier than a first delivery that late.
    /// </summary>
    public bool Seen(long sequence)
    {
        if (sequence > _highest)
        {
            if (_highest == 0 || sequence - _highest >= Capacity)
            {
                Array.Clear(_bits);
            }
            else
            {
                for (var s = _highest + 1; s < sequence; s++)
                    Clear(s);
            }

            Set(sequence);
            _highest = sequence;
            return false;
        }

        if (sequence <= _highest - Capacity)
            return true;
        if (IsSet(sequence))
            return true;
        Set(sequence);
        return false;
    }

    private (int Word, ulong Mask) Slot(long sequence)
    {
        var slot = sequence % Capacity;
        return ((int)(slot / 64), 1UL << (int)(slot % 64));
    }

    private bool IsSet(long sequence)
    {
        var (word, mask) = Slot(sequence);
        return (_bits[word] & mask) != 0;
    }

    private void Set(long sequence)
    {
        var (word, mask) = Slot(sequence);
        _bits[word] |= mask;
    }

    private void Clear(long sequence)
    {
        var (word, mask) = Slot(sequence);
        _bits[word] &= ~mask;
    }
}
