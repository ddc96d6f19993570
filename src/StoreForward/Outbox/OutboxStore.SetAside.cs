using LiteDB;

namespace StoreForward.Outbox;

// Records that fail their check, set aside as dead letters and reported once committed.
internal sealed partial class OutboxStore
{
    /// <summary>
    /// Moves the sealed messages the last read found unreadable (altered on disk, or sealed with another key) to the dead
    /// letters, as they are, so that they are never published and never block the queue. Reported once committed.
    /// </summary>
    private void SetAsideUnreadable()
    {
        foreach (var (message, record, detail) in _unreadable)
        {
            if (!Remove(message))
                continue;
            var document = new BsonDocument(record.AsDocument.ToDictionary(f => f.Key, f => f.Value))
            {
                ["_id"] = message.Sequence,
                ["reason"] = (int)DeadLetterReason.Unreadable,
                ["code"] = BsonValue.Null,
                ["detail"] = detail,
            };
            _deadLetters.Upsert(document);
            _staged.DeadLetters++;
            _setAside.Add(message.ToDeadLetter(DeadLetterReason.Unreadable, null, detail));
        }

        _unreadable.Clear();
    }

    private static string UnreadableDetail(Exception error) =>
        error is System.Security.Cryptography.CryptographicException
            ? "The stored record failed its integrity check (AES-GCM): it was altered on disk, or sealed with another key. Its content cannot be trusted, so it was never published."
            : $"The stored record cannot be decoded ({error.Message}): the store was damaged or altered. It was never published.";

    /// <summary>The messages set aside as unreadable by committed batches since the last call, for reporting.</summary>
    public IReadOnlyList<DeadLetter> TakeSetAside()
    {
        // Asked after every commit: nothing to allocate in the usual case.
        if (_setAsideCommitted.Count == 0)
            return [];
        var setAside = _setAsideCommitted;
        _setAsideCommitted = [];
        return setAside;
    }
}
