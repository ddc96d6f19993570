namespace StoreForward.Outbox;

// The unsent cursor: what DropOldest may drop, above everything the session read.
internal sealed partial class OutboxStore
{
    private void ForgetUnsent()
    {
        _unsent.Clear();
        _unsentHead = 0;
    }

    /// <summary>
    /// The delivery session dropped everything it read that was not sent (it reads again from the store on its next
    /// connection), so those messages may be dropped again.
    /// </summary>
    public void ForgetHandedOut()
    {
        _handedOutThrough = 0;
        ForgetUnsent();
    }

    /// <summary>
    /// Drops the oldest messages that were never sent until at least <paramref name="messages"/> messages and
    /// <paramref name="bytes"/> bytes are gone (<see cref="OverflowPolicy.DropOldest"/>), and returns them; returns null,
    /// dropping nothing, when too few such messages are stored. A message may have been sent when it is at or below the
    /// "sent" mark or was read by the delivery session.
    /// </summary>
    /// <param name="messages">Messages that must go.</param>
    /// <param name="bytes">Bytes that must go.</param>
    /// <param name="spare">A message not to drop (the one a coalesced append replaces anyway), or 0.</param>
    public List<DroppedMessage>? DropOldestUnsent(long messages, long bytes, long spare = 0)
    {
        var floor = Math.Max(_staged.SentThrough, _handedOutThrough);
        var end = _unsentHead;
        long count = 0, freed = 0;
        var chosen = new List<OutboxMessage>();
        while (count < messages || freed < bytes)
        {
            if (end == _unsent.Count && !ReadMoreUnsent(floor))
                return null;
            var candidate = _unsent[end++];

            // The cache may hold a message removed since it was read (superseded, or its segment deleted with it).
            if (candidate.Sequence <= floor || candidate.Sequence == spare || _removed.Contains(candidate.Sequence) || !TryCountLive(candidate, out _))
                continue;
            chosen.Add(candidate);
            count++;
            freed += candidate.Size;
        }

        var dropped = new List<DroppedMessage>();
        foreach (var candidate in chosen)
        {
            if (Remove(candidate))
            {
                dropped.Add(new DroppedMessage(candidate.Sequence, candidate.Topic, candidate.StoredAt));
                _staged.Dropped++;
            }
        }

        _unsentHead = end;
        if (_unsentHead == _unsent.Count)
            ForgetUnsent();
        return dropped;
    }

    /// <summary>Reads the next segment's worth of live messages above <paramref name="floor"/> and what was read before.</summary>
    private bool ReadMoreUnsent(long floor)
    {
        var after = Math.Max(floor, _unsent.Count > 0 ? _unsent[^1].Sequence : 0);
        var more = ReadLive(_messages.From(after - OutboxSegment.MaxMessages + 1), after, OutboxSegment.MaxMessages);
        if (more.Count == 0 && _appending is not null)
        {
            // The only unsent messages left were appended by this batch.
            InsertAppending();
            more = ReadLive(_messages.From(after - OutboxSegment.MaxMessages + 1), after, OutboxSegment.MaxMessages);
        }

        _unsent.AddRange(more);
        return more.Count > 0;
    }
}
