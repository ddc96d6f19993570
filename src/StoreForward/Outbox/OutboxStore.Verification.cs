using LiteDB;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>A full check of a store against the invariants <see cref="OutboxStore"/> documents, for operators' tools.</summary>
internal sealed partial class OutboxStore
{
    /// <summary>How many segments the store holds (the unit of <see cref="Verify"/>'s and <see cref="Compact"/>'s progress).</summary>
    public int SegmentCount => _messages.Count();

    /// <summary>
    /// Reads every segment and dead letter and checks them against the counters and sets of the meta document; returns
    /// what does not hold, empty when the store is sound. Opening the store already checked its header and length. A
    /// message that cannot be decoded is reported with its sequence and never stops the check, and so is a message that
    /// is also a dead letter.
    /// </summary>
    /// <param name="progress">Gets the number of segments checked so far.</param>
    public List<string> Verify(IProgress<int>? progress = null)
    {
        var problems = new List<string>();
        var deadLetters = CheckDeadLetters(problems);
        var releasedSeen = new HashSet<long>();
        var attemptsSeen = new HashSet<long>();
        var latest = Latest.FindAll().Where(d => Tenant.OwnsLatest(d["_id"])).ToDictionary(d => d["s"].AsInt64, d => d["_id"].AsString);
        long live = 0, bytes = 0, previousLast = 0, removedInside = 0;
        var checkedSegments = 0;
        foreach (var segment in _messages.All())
        {
            progress?.Report(++checkedSegments);
            if (OutboxSegment.ShapeOf(segment, out var first, out var length) is { } error)
            {
                problems.Add($"segment {segment["_id"]}: not a segment ({error.Message}).");
                continue;
            }

            var last = first + length - 1;
            if (length == 0)
                problems.Add($"segment {first}: holds no message.");
            if (first <= previousLast)
                problems.Add($"segment {first}: overlaps the segment before it, which reaches sequence {previousLast}.");
            if (last >= _committed.NextSequence)
                problems.Add($"segment {first}: reaches sequence {last}, beyond the last one handed out ({_committed.NextSequence - 1}).");
            previousLast = Math.Max(previousLast, last);
            removedInside += _removed.CountIn(first, length);

            for (var index = 0; index < length; index++)
            {
                var sequence = first + index;
                if (_removed.Contains(sequence))
                    continue;
                if (CheckMessage(segment, index, sequence, problems) is not { } message)
                    continue;
                live++;
                bytes += message.Size;
                if (deadLetters.Contains(sequence))
                    problems.Add($"message {sequence}: is also a dead letter: it would be published although it was set aside, and setting it aside again would fail.");
                if (_released.Contains(sequence))
                {
                    releasedSeen.Add(sequence);
                    if (message.Qos != MqttQualityOfServiceLevel.ExactlyOnce)
                        problems.Add($"message {sequence}: has a recorded PUBREC but is QoS {(int)message.Qos}.");
                    if (sequence > _committed.SentThrough)
                        problems.Add($"message {sequence}: has a recorded PUBREC but lies above the \"sent\" mark ({_committed.SentThrough}).");
                }

                if (_attempts.ContainsKey(sequence))
                    attemptsSeen.Add(sequence);
                if (latest.TryGetValue(sequence, out var topic) && topic != Tenant.LatestId(TopicIndex(message.Topic)))
                    problems.Add($"message {sequence}: is the newest of a coalesced topic but has another topic, '{message.Topic}'.");
            }
        }

        if (live != _committed.Count)
            problems.Add($"the store counts {_committed.Count} messages but holds {live}.");
        if (bytes != _committed.Bytes)
            problems.Add($"the store counts {_committed.Bytes} bytes but holds {bytes}.");
        if (removedInside != _removed.Count)
            problems.Add($"{_removed.Count - removedInside} removed marks belong to no stored segment.");
        if (_released.Count != releasedSeen.Count)
            problems.Add($"{_released.Count - releasedSeen.Count} recorded PUBRECs belong to no stored message.");
        if (_attempts.Count != attemptsSeen.Count)
            problems.Add($"{_attempts.Count - attemptsSeen.Count} recorded resend counts belong to no stored message.");
        return problems;
    }

    /// <summary>
    /// Checks every dead letter and their count, adding what does not hold to <paramref name="problems"/>; returns their
    /// sequences, which no live message may have.
    /// </summary>
    private HashSet<long> CheckDeadLetters(List<string> problems)
    {
        var sequences = new HashSet<long>();
        long held = 0;
        foreach (var deadLetter in _deadLetters.All())
        {
            held++;
            if (deadLetter["_id"].IsInt64)
                sequences.Add(deadLetter["_id"].AsInt64);
            try
            {
                if (ToDeadLetter(deadLetter) is { Reason: DeadLetterReason.Unreadable, Sequence: var sequence })
                    problems.Add($"dead letter {sequence}: failed its integrity check (altered on disk, or sealed with another key).");
            }
            catch (Exception e) when (StoredField.IsUnreadable(e))
            {
                problems.Add($"dead letter {deadLetter["_id"]}: cannot be read ({e.Message}).");
            }
        }

        if (held != _committed.DeadLetters)
            problems.Add($"the store counts {_committed.DeadLetters} dead letters but holds {held}.");
        return sequences;
    }

    /// <summary>Decodes one stored message (which checks its fields); null, with the problem added, when it is not sound.</summary>
    private OutboxMessage? CheckMessage(BsonDocument segment, int index, long sequence, List<string> problems)
    {
        OutboxMessage message;
        try
        {
            message = OutboxSegment.MessageAt(segment, index, _cipher);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            problems.Add($"message {sequence}: failed its integrity check (altered on disk, or sealed with another key).");
            return null;
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            problems.Add($"message {sequence}: cannot be read ({e.Message}).");
            return null;
        }

        return message;
    }

}
