using LiteDB;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// The store's side of a salvage (see <see cref="OutboxSalvage"/>): opening the working copy of a damaged store that
/// LiteDB rebuilt from its readable pages, with or without its header, and making that header agree with what the copy
/// still holds, so that the copy can be written out as a store the app can use.
/// </summary>
internal sealed partial class OutboxStore
{
    /// <summary>
    /// Opens the rebuilt working copy at <paramref name="copyPath"/>. Its errors name <paramref name="damagedPath"/>, the
    /// store the operator knows; the copy is only read, reconciled and copied, never compacted or moved. When the header
    /// (the meta document) is lost or cannot be read, the copy gets the header of an empty store, keeping the store salt
    /// if that is still readable (without it no sealed record can be opened), and <paramref name="headerProblem"/> says
    /// what happened; <see cref="Reconcile"/> then counts what is there. Throws as <see cref="Open"/> does for a file that
    /// is not an outbox, of a newer format, or encrypted with another key.
    /// </summary>
    public static OutboxStore OpenSalvageCopy(string copyPath, string damagedPath, byte[]? key, bool allowWorldWritableDirectory, out string? headerProblem)
    {
        var store = OpenCopyFiles(copyPath, damagedPath, key, allowWorldWritableDirectory);
        BsonDocument? meta = null;
        try
        {
            // Without any of the outbox's collections, Load would take the copy for a new store.
            if (!store.Database.GetCollectionNames().Any(n => n is MessagesName or DeadLettersName or MetaDocument.CollectionName))
            {
                headerProblem = "nothing of an outbox is left in the pages that can be read: no header, no message, no dead letter";
            }
            else
            {
                try
                {
                    store.Load();
                    headerProblem = null;
                    return store;
                }
                catch (Exception e) when (e is OutboxStoreException { Problem: OutboxStoreProblem.Damaged } || StoredField.IsUnreadable(e))
                {
                    // The outbox's collections without their header, or a header that cannot be read.
                    meta = StoredField.Or(() => store._file.Meta.FindById(store.Tenant.HeaderId), null);
                    headerProblem = meta is null
                        ? "the header (the meta document: the next sequence, the sent mark, the recorded PUBRECs and the broker session) was lost"
                        : $"the header (the meta document) cannot be read ({(e as OutboxStoreException)?.InnerException?.Message ?? e.Message})";
                }
            }
        }
        catch
        {
            store.Dispose();
            throw;
        }

        // A failed Load may have left the instance half set up; a fresh one over the same files starts from a clean state.
        store.Dispose();
        store = OpenCopyFiles(copyPath, damagedPath, key, allowWorldWritableDirectory);
        try
        {
            store.StartEmpty(MetaDocument.KeyBindingOf(meta));
            store.Load();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    private static OutboxStore OpenCopyFiles(string copyPath, string damagedPath, byte[]? key, bool allowWorldWritableDirectory)
    {
        var file = StoreFile.OpenCopy(damagedPath, copyPath);
        try
        {
            // A salvage rebuilds one publisher's outbox; a file several publishers shared would need each of theirs.
            if (StoredField.Or(() => file.Headers().Count, 1) > 1)
                throw new OutboxStoreException(damagedPath, "the store is shared by several publishers (ClientIds), and salvage does not rebuild a shared store yet; keep the damaged files, and start the publishers on a new store path.") { Problem = OutboxStoreProblem.Unusable };
            return file.AddSoleTenant(key, allowWorldWritableDirectory);
        }
        catch
        {
            file.Close();
            throw;
        }
    }

    /// <summary>
    /// Makes the header agree with what the copy holds, in one commit, and returns what was found. Counts and bytes are
    /// what is there; the next sequence lies above every sequence seen; a dead letter's sequence is removed from the
    /// segment it left; removed marks, PUBRECs, resend counts and coalescing entries are kept only for messages that are
    /// there; records that cannot be read are set aside as dead letters, as the publisher would set them aside; shapeless
    /// segment and dead-letter documents are deleted.
    /// </summary>
    /// <remarks>
    /// The broker session is kept only when there is one and nothing it may hold in flight can be missing or unusable:
    /// the header was read, no page was lost, the messages and dead letters are exactly those the header counts, and
    /// every message at or below the sent mark can be read. Otherwise a message the broker holds in flight (a QoS 2
    /// PUBLISH waiting for its PUBREL) may be gone or never sent again, and its packet id would stay taken in the broker's
    /// session until a later message with the same id is dropped as its duplicate; so the store records no session, and
    /// the app clears the broker's session and publishes what was in flight anew. An unreadable message above the sent
    /// mark was never sent, so the broker holds nothing of it. A store that recorded no session has none to keep, and its
    /// marks stay as they are.
    /// </remarks>
    /// <param name="headerRead">Whether the damaged store's header was read (see <see cref="OpenSalvageCopy"/>).</param>
    /// <param name="pagesLost">Whether LiteDB's rebuild could not read some pages or records.</param>
    /// <param name="sessionMayBeKept">
    /// False when another store may have used the broker session since (a quarantined store's app started a fresh one,
    /// which cleared the broker's session on its first connection): then the session is never resumed.
    /// </param>
    public SalvagedContent Reconcile(bool headerRead, bool pagesLost, bool sessionMayBeKept)
    {
        BeginBatch();
        var counted = _committed;
        var maxSeen = 0L;
        var shapeless = new List<BsonValue>();
        var shaped = new List<(long First, int Length)>();

        IEnumerable<BsonDocument> Shaped()
        {
            foreach (var segment in _messages.All())
            {
                if (OutboxSegment.ShapeOf(segment, out var first, out var length) is not null)
                {
                    shapeless.Add(segment["_id"]);
                    continue;
                }

                shaped.Add((first, length));
                maxSeen = Math.Max(maxSeen, first + length - 1);
                yield return segment;
            }
        }

        // Dead letters first: each left its segment with a removed mark, and when the header that kept those marks was
        // lost, its message would come back as one to publish although the app set it aside, and setting it aside again
        // would find its sequence taken. Marks outside the segments kept are dropped below.
        var deadLetters = 0L;
        var unreadableDeadLetters = 0L;
        var shapelessDeadLetters = new List<BsonValue>();
        var deadLetterLosses = new List<SalvageLoss>();
        foreach (var document in _deadLetters.All())
        {
            if (!document["_id"].IsInt64)
            {
                shapelessDeadLetters.Add(document["_id"]);
                deadLetterLosses.Add(new SalvageLoss($"dead letter document {document["_id"]}", "it has no sequence; deleted"));
                continue;
            }

            deadLetters++;
            maxSeen = Math.Max(maxSeen, document["_id"].AsInt64);
            _removed.Add(document["_id"].AsInt64);
            if (ToDeadLetter(document) is { Reason: DeadLetterReason.Unreadable } letter)
            {
                unreadableDeadLetters++;
                deadLetterLosses.Add(new SalvageLoss($"dead letter {letter.Sequence}", letter.Detail));
            }
        }

        _unreadable.Clear();
        var live = new Dictionary<long, (MqttQualityOfServiceLevel Qos, long SegmentFirst)>();
        long bytes = 0;
        foreach (var message in LiveMessages(Shaped(), 0, long.MaxValue))
        {
            live[message.Sequence] = (message.Qos, message.SegmentFirst);
            bytes += message.Size;
        }

        var losses = shapeless.Select(id => new SalvageLoss($"segment document {id}", "it is not a segment of messages, so its sequences are unknown; deleted")).ToList();
        losses.AddRange(_unreadable.Select(u => new SalvageLoss($"message {u.Message.Sequence}", $"{u.Detail} Set aside as a dead letter.")));
        losses.AddRange(deadLetterLosses);
        var unreadableMessages = _unreadable.Count;
        bytes += _unreadable.Sum(u => u.Message.Size);

        var session = counted.SessionServer is null && headerRead ? SalvagedSession.None
            : sessionMayBeKept && headerRead && !pagesLost && shapeless.Count == 0 && shapelessDeadLetters.Count == 0
                && live.Count + _unreadable.Count == counted.Count && deadLetters == counted.DeadLetters
                && _unreadable.All(u => u.Message.Sequence > counted.SentThrough)
                ? SalvagedSession.Kept
                : SalvagedSession.Fresh;

        // A store that recorded no session keeps its marks: no broker holds a session they could disagree with.
        var fresh = session == SalvagedSession.Fresh;

        foreach (var id in shapeless)
            _messages.Delete(id);
        foreach (var id in shapelessDeadLetters)
            _deadLetters.Delete(id);
        _removed = SequenceSet.Of(MetaDocument.RemovedKey, shaped.SelectMany(s => Enumerable.Range(0, s.Length).Select(i => s.First + i)).Where(_removed.Contains));
        _released = SequenceSet.Of(
            MetaDocument.ReleasedKey,
            fresh ? [] : live.Where(m => m.Value.Qos == MqttQualityOfServiceLevel.ExactlyOnce && m.Key <= counted.SentThrough && _released.Contains(m.Key)).Select(m => m.Key));
        _attempts = _attempts.Where(a => live.ContainsKey(a.Key)).ToDictionary();
        _attemptsChanged = true;
        foreach (var entry in Latest.FindAll().Where(d => Tenant.OwnsLatest(d["_id"])).ToList())
        {
            // A coalescing entry names the topic's newest message and its segment; one for a message that is gone would
            // let a new message supersede nothing, or the wrong one.
            if (entry["s"].IsInt64 && live.TryGetValue(entry["s"].AsInt64, out var newest))
            {
                entry["f"] = newest.SegmentFirst;
                Latest.Update(entry);
            }
            else
            {
                Latest.Delete(entry["_id"]);
            }
        }

        _staged.Count = live.Count + unreadableMessages;
        _staged.Bytes = bytes;
        _staged.DeadLetters = deadLetters;
        _staged.NextSequence = Math.Max(counted.NextSequence, maxSeen + 1);
        if (fresh)
            _staged.SessionServer = null;
        SetAsideUnreadable();
        _headSegment = null;
        _headChanged = true;
        _dirty = true;
        CommitBatch();

        return new SalvagedContent(
            live.Count,
            unreadableMessages,
            deadLetters - unreadableDeadLetters,
            unreadableDeadLetters,
            headerRead ? counted.Count : null,
            headerRead ? counted.DeadLetters : null,
            _committed.NextSequence,
            _committed.SentThrough,
            session,
            fresh ? live.Keys.Count(s => s <= _committed.SentThrough) : 0,
            losses);
    }
}
