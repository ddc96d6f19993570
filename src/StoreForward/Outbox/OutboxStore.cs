using LiteDB;
using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// The durable outbox: a LiteDB file opened over our own <see cref="DurableFileStream"/>s so that every commit ends with
/// one fsync of the write-ahead log.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Only the <see cref="GroupCommitWriter"/> thread calls into an open store (LiteDB transactions are bound to a thread).</item>
/// <item>Every change happens between <see cref="BeginBatch"/> and <see cref="CommitBatch"/>; in-memory counters change only
/// once the commit is on disk, and a rolled back batch leaves them as they were.</item>
/// <item>Sequences come from the persisted meta document, never from LiteDB's auto-id, which restarts after the collection
/// empties. They grow strictly for the life of the file.</item>
/// <item>Messages are sent in sequence order, so every message above <c>sentThrough</c> was never sent: recovery reads only
/// the head of the queue, never the whole backlog.</item>
/// <item>Messages are stored in <see cref="OutboxSegment"/>s, one document per run of consecutive sequences appended in a
/// batch. A message is removed by adding it to the meta document's removed set; the segment is deleted, and its members
/// leave that set, in the same batch as its last message is removed. So a stored message is live exactly when its segment
/// exists and it is not in the removed set.</item>
/// <item>A QoS 2 message is in the released set of the meta document exactly when its PUBREC was committed; it is added
/// before PUBREL is sent and leaves with the message.</item>
/// <item>LiteDB's automatic checkpoint is off: it would run inside <c>Commit()</c>, before our fsync of the log, copying
/// pages that are not yet durable into the data file and turning a checkpoint failure (a full disk growing the data file)
/// into a "failed" commit that in fact landed. The store checkpoints itself, after the fsync.</item>
/// <item>When a commit fails after it started, its outcome is unknown: the store reopens the database over the same
/// (still locked) files and takes its counters from what is on disk, so a sequence is never handed out twice.</item>
/// </list>
/// </remarks>
internal sealed partial class OutboxStore : IDisposable
{
    private const string FormatName = "StoreForward.Outbox";
    private const int FormatVersion = 3;

    /// <summary>Version 1 kept a row per PUBREC in the <c>released</c> collection; opening such a store migrates it.</summary>
    private const int RowPerPubRecVersion = 1;

    /// <summary>
    /// Version 2 kept a document per message, which reads as a segment of one: such a store is read as it is, and its
    /// first commit marks it version 3.
    /// </summary>
    private const int DocumentPerMessageVersion = 2;
    private const string MessagesName = "outbox";
    private const string DeadLettersName = "dead_letters";
    private const string ReleasedRowsName = "released";
    private const string MetaName = "meta";
    private const string MetaId = "outbox";

    /// <summary>The newest message of each coalesced topic: <c>{ _id: topic, s: sequence, f: its segment's first sequence }</c>.</summary>
    private const string LatestName = "latest";
    private const string ReleasedKey = "released";
    private const string RemovedKey = "removed";

    private const long PageSize = 8192;

    /// <summary>LiteDB's own default checkpoint point (1,000 pages of 8 KiB): the log is copied into the data file past it.</summary>
    private const long CheckpointLogBytes = 1000 * PageSize;

    private readonly DurableFileStream _data;
    private readonly DurableFileStream _log;

    // Encryption at rest (null: messages are stored in clear). The store's salt and the key's id live in the meta document.
    private readonly byte[]? _appKey;
    private (byte[] Salt, string KeyId)? _keyBinding;
    private RecordCipher? _cipher;

    // Sealed messages that failed their check in this batch, set aside as dead letters, reported once committed.
    private readonly List<(OutboxMessage Message, BsonValue Record, string Detail)> _unreadable = [];
    private readonly List<DeadLetter> _setAside = [];
    private List<DeadLetter> _setAsideCommitted = [];
    private LiteDatabase _db = null!;
    private ILiteCollection<BsonDocument> _messages = null!;
    private ILiteCollection<BsonDocument> _deadLetters = null!;
    private ILiteCollection<BsonDocument> _meta = null!;
    private ILiteCollection<BsonDocument> _latest = null!;

    // Inside the meta document, which every commit rewrites anyway: marking PUBREC costs neither a rewrite of the message
    // with its payload nor an index entry of its own, and removing a message from a segment costs a bit.
    private SequenceSet _released = SequenceSet.Empty(ReleasedKey);
    private SequenceSet _removed = SequenceSet.Empty(RemovedKey);

    // The segment the open batch appends to; inserted when it is full, before anything reads, and at commit. A coalesced
    // message has one of its own.
    private OutboxSegment? _appending;
    private bool _appendingCoalesced;

    // Live messages of segments that lost some already, so that the last removal, which deletes the segment, is known
    // without a read. A cache: cleared whenever a batch is undone, and filled again from the removed set.
    private readonly Dictionary<long, int> _liveInSegment = [];

    // When each message of the oldest segment was stored, for the head of the queue: read once, not on every commit that
    // removes a message, and without keeping the payloads.
    private (long First, long[] StoredAtTicks)? _headSegment;

    // Where the last read ended, so that the next read, which the session starts there, begins at the segment holding its
    // first message instead of a segment's length before it.
    private (long Through, long NextSegment)? _readEnd;

    // The highest sequence any read handed to the delivery session: the session may send what it read, so DropOldest
    // never drops at or below it. Lowered by ForgetHandedOut once the session dropped what it read.
    private long _handedOutThrough;

    // Live messages above what may be sent, oldest first, read ahead for DropOldest (one read per segment, not per drop);
    // the first _unsentHead of them are used up.
    private readonly List<OutboxMessage> _unsent = [];
    private int _unsentHead;

    // On how many connections after the first in-flight messages were resent (the meta document's "attempts"), as
    // committed and as the open batch changed them. Only resent messages have an entry, so the map stays as small as the
    // window. The first send is not counted: below the "sent" mark a restart cannot tell a sent message from one the mark
    // merely ran ahead of.
    private Dictionary<long, int> _attempts = [];
    private Dictionary<long, int> _committedAttempts = [];
    private bool _attemptsChanged;

    // Committed state.
    private Counters _committed;

    // State of the open batch; copied to _committed on commit.
    private Counters _staged;
    private bool _dirty;
    private bool _headChanged;
    private bool _committing;
    private long _checkpointAt = CheckpointLogBytes;
    private Exception? _broken;

    private OutboxStore(string path, DurableFileStream data, DurableFileStream log, byte[]? appKey)
    {
        FilePath = path;
        _data = data;
        _log = log;
        _appKey = appKey;
    }

    /// <summary>Opens LiteDB over our streams (it never disposes them, so reopening keeps the files locked).</summary>
    private void Attach()
    {
        _db = new LiteDatabase(_data, new BsonMapper(), _log);
        _db.CheckpointSize = 0;
        _messages = _db.GetCollection(MessagesName, BsonAutoId.Int64);
        _deadLetters = _db.GetCollection(DeadLettersName, BsonAutoId.Int64);
        _meta = _db.GetCollection(MetaName);
        _latest = _db.GetCollection(LatestName);
    }

    public string FilePath { get; }

    /// <summary>The highest sequence recorded as sent; no message above it was ever sent.</summary>
    public long SentThrough => _committed.SentThrough;

    /// <summary>
    /// The broker whose session the stored delivery state belongs to: null before any session; a server's
    /// <see cref="Transport.BrokerEndpoint.SessionKey"/> when several servers keep sessions of their own; the engine's key
    /// for "the one broker" otherwise; empty for a store from before the broker was recorded.
    /// </summary>
    public string? SessionServer => _committed.SessionServer;

    /// <summary>fsyncs issued on the log and data files (log: one per commit that changed something).</summary>
    public long SyncCount => _log.SyncCount + _data.SyncCount;

    public OutboxSnapshot Snapshot { get; private set; } = null!;

    /// <summary>The write-ahead log file, for fault-injection tests.</summary>
    internal DurableFileStream LogFile => _log;

    /// <summary>The data file, for fault-injection tests.</summary>
    internal DurableFileStream DataFile => _data;

    /// <summary>
    /// Opens or creates the store at <paramref name="path"/> (and its directory, owner-only, when that is missing), with
    /// clear errors for every way that can fail.
    /// </summary>
    /// <param name="path">The store file.</param>
    /// <param name="encryptionKey">The app's key (32 bytes) to encrypt messages with, or null to store them in clear.</param>
    /// <param name="allowWorldWritableDirectory">Accept a directory every user can write to (a container volume).</param>
    public static OutboxStore Open(string path, byte[]? encryptionKey = null, bool allowWorldWritableDirectory = false)
    {
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OutboxStoreException(path, $"the path is not valid: {e.Message}", e) { Problem = OutboxStoreProblem.Unusable };
        }

        var directory = Path.GetDirectoryName(fullPath);
        if (directory is null)
            throw new OutboxStoreException(fullPath, "the path names no file.") { Problem = OutboxStoreProblem.Unusable };
        try
        {
            StoreFileAccess.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutboxStoreException(fullPath, $"the directory '{directory}' does not exist and cannot be created ({e.Message}); create it for the app's user (chmod 700) or choose a StorePath in a directory the app can write.", e) { Problem = OutboxStoreProblem.Unusable };
        }

        if (Directory.Exists(fullPath))
            throw new OutboxStoreException(fullPath, "the path is a directory, not a file.") { Problem = OutboxStoreProblem.Unusable };
        if (StoreFileAccess.DirectoryProblem(directory, allowWorldWritableDirectory) is { } unsafeDirectory)
            throw new OutboxStoreException(fullPath, unsafeDirectory) { Problem = OutboxStoreProblem.Unusable };
        StoreFileAccess.RestrictToOwner(fullPath);
        StoreFileAccess.RestrictToOwner(LogPathOf(fullPath));

        var created = !File.Exists(fullPath) || !File.Exists(LogPathOf(fullPath));
        var originalDataLength = File.Exists(fullPath) ? new FileInfo(fullPath).Length : 0;
        var data = OpenFile(fullPath, fullPath);
        DurableFileStream? log = null;
        try
        {
            log = OpenFile(fullPath, LogPathOf(fullPath));
            var store = new OutboxStore(fullPath, data, log, encryptionKey);
            try
            {
                store.Attach();
            }
            catch (Exception e) when (e is LiteException or InvalidCastException or IOException or ArgumentException or IndexOutOfRangeException or InvalidOperationException)
            {
                throw new OutboxStoreException(fullPath, $"the file is damaged or is not a LiteDB database ({e.Message}).", e) { Problem = OutboxStoreProblem.Damaged };
            }

            try
            {
                store.Load(originalDataLength);
                if (created)
                    DirectorySync.Flush(directory);
            }
            catch
            {
                store.Dispose();
                throw;
            }

            return store;
        }
        catch
        {
            log?.Dispose();
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Moves a store that cannot be opened aside, data file and log, as <c>name.quarantined-&lt;UTC time&gt;.ext</c>, so that
    /// a fresh store can start at <paramref name="path"/> and the damaged one stays for inspection. Returns the new path.
    /// </summary>
    public static string Quarantine(string path, DateTimeOffset now)
    {
        var fullPath = Path.GetFullPath(path);
        var stamp = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var aside = Path.Combine(Path.GetDirectoryName(fullPath)!, $"{Path.GetFileNameWithoutExtension(fullPath)}{QuarantineMark}{stamp}{Path.GetExtension(fullPath)}");
        File.Move(fullPath, aside);
        if (File.Exists(LogPathOf(fullPath)))
            File.Move(LogPathOf(fullPath), LogPathOf(aside));
        DirectorySync.Flush(Path.GetDirectoryName(fullPath)!);
        return aside;
    }

    /// <summary>What <see cref="Quarantine"/> puts between a store's name and the time it was moved aside.</summary>
    public const string QuarantineMark = ".quarantined-";

    /// <summary>LiteDB's own naming for the write-ahead log: <c>name-log.ext</c> beside the data file.</summary>
    public static string LogPathOf(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? ".", Path.GetFileNameWithoutExtension(path) + "-log" + Path.GetExtension(path));

    private static DurableFileStream OpenFile(string storePath, string filePath)
    {
        try
        {
            return DurableFileStream.OpenExclusive(filePath);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new OutboxStoreException(storePath, $"'{filePath}' cannot be opened exclusively; another publisher (in this or another process) probably has the store open ({e.Message}).", e) { Problem = OutboxStoreProblem.InUse };
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new OutboxStoreException(storePath, $"'{filePath}' cannot be opened for reading and writing ({e.Message}).", e) { Problem = OutboxStoreProblem.Unusable };
        }
    }

    /// <summary>
    /// Reads the header and counters. <paramref name="originalDataLength"/> is the data file's length before LiteDB opened
    /// it: LiteDB quietly starts a new database in a file shorter than one page, so a store truncated that far must be
    /// recognised here, or it would open as an empty queue.
    /// </summary>
    private void Load(long originalDataLength = PageSize)
    {
        try
        {
            var meta = _meta.FindById(MetaId);
            if (meta is null)
            {
                CreateOrRefuse(originalDataLength);
                return;
            }

            if (!meta.TryGetValue("format", out var format) || format != FormatName)
                throw Problem(OutboxStoreProblem.Foreign, $"the file is not a StoreForward outbox (format '{format}').");
            var version = meta["version"].AsInt32;
            if (version is not (FormatVersion or DocumentPerMessageVersion or RowPerPubRecVersion))
                throw Problem(OutboxStoreProblem.UnsupportedVersion, $"the outbox format version {meta["version"]} is not supported by this StoreForward (it reads version {FormatVersion}).");

            ThrowIfTruncated();
            BindKey(meta);
            _committed = new Counters
            {
                NextSequence = meta["next"].AsInt64,
                SentThrough = meta["sent"].AsInt64,
                Count = meta["count"].AsInt64,
                Bytes = meta["bytes"].AsInt64,
                DeadLetters = meta["dead"].AsInt64,
                Dropped = meta.TryGetValue("dropped", out var dropped) ? dropped.AsInt64 : 0,
                Expired = meta.TryGetValue("expired", out var expired) ? expired.AsInt64 : 0,
                Superseded = meta.TryGetValue("superseded", out var superseded) ? superseded.AsInt64 : 0,
                SessionServer = !meta["session"].AsBoolean ? null : meta.TryGetValue("server", out var server) && server.IsString ? server.AsString : "",
            };
            _staged = _committed;
            _removed = SequenceSet.ReadFrom(meta, RemovedKey);
            _attempts = meta.TryGetValue("attempts", out var attempts)
                ? attempts.AsDocument.ToDictionary(a => long.Parse(a.Key, System.Globalization.CultureInfo.InvariantCulture), a => a.Value.AsInt32)
                : [];
            _committedAttempts = new(_attempts);
            ForgetCachedSegments();
            RefreshHead();
            _committed = _staged;
            if (version == RowPerPubRecVersion)
            {
                MigrateRowPerPubRec();
            }
            else
            {
                _released = SequenceSet.ReadFrom(meta, ReleasedKey);
            }

            PublishSnapshot();
        }
        catch (Exception e) when (e is LiteException or InvalidCastException or IndexOutOfRangeException or KeyNotFoundException)
        {
            throw Problem(OutboxStoreProblem.Damaged, $"the file is damaged ({e.Message}).", e);
        }
    }

    /// <summary>
    /// Moves a version 1 store's PUBREC rows into the meta document, and the store to the current version, in one commit:
    /// a crash leaves either the old store or the new one.
    /// </summary>
    private void MigrateRowPerPubRec()
    {
        var rows = _db.GetCollection(ReleasedRowsName);
        _released = SequenceSet.Of(ReleasedKey, rows.FindAll().Select(d => d["_id"].AsInt64));
        BeginBatch();
        try
        {
            rows.DeleteAll();
            _dirty = true;
            CommitBatch();
        }
        catch (IOException e)
        {
            throw Problem(OutboxStoreProblem.WriteFailed, $"the store could not be upgraded from format version {RowPerPubRecVersion} to {FormatVersion} ({e.Message}). The upgrade is one commit, so nothing is lost: opening the store again retries it.", e);
        }
    }

    private void CreateOrRefuse(long originalDataLength)
    {
        var collections = _db.GetCollectionNames().Where(n => !n.StartsWith('$')).ToList();
        var ours = new[] { MessagesName, DeadLettersName, MetaName, ReleasedRowsName, LatestName };
        if (collections.Count > 0 && collections.All(ours.Contains))
            throw Problem(OutboxStoreProblem.Damaged, "the file is damaged: it has the outbox's collections but lost its header.");
        if (collections.Count > 0)
            throw Problem(OutboxStoreProblem.Foreign, $"the file is a LiteDB database but not a StoreForward outbox (it has the collections {string.Join(", ", collections)} and no StoreForward header).");

        // A new store is one page (LiteDB's header) or nothing; a crash while it was being created leaves no more.
        if (originalDataLength > PageSize || originalDataLength % PageSize != 0)
            throw Problem(OutboxStoreProblem.Damaged, $"the file is damaged or truncated: it held {originalDataLength} bytes but no outbox.");

        StartEmpty(null);
    }

    /// <summary>
    /// Commits the header of an empty store: sequences from 1, no session. A new store binds the app's key afresh; a
    /// salvage passes what is left of a damaged header, whose store salt still opens the records sealed with it.
    /// </summary>
    private void StartEmpty(BsonDocument? keyBinding)
    {
        BindKey(keyBinding);
        _staged = default;
        _staged.NextSequence = 1;
        _released = SequenceSet.Empty(ReleasedKey);
        _removed = SequenceSet.Empty(RemovedKey);
        _dirty = true;
        _db.BeginTrans();
        CommitBatch();
    }

    /// <summary>
    /// Checks the app's key against the one the store was encrypted with, and sets up the cipher. A store opened with a key
    /// for the first time gets its salt and the key's id in its next commit, before or with its first sealed message.
    /// </summary>
    private void BindKey(BsonDocument? meta)
    {
        var storedKeyId = meta is not null && meta.TryGetValue("kid", out var kid) ? kid.AsString : null;
        if (storedKeyId is not null && _appKey is null)
            throw Problem(OutboxStoreProblem.KeyMismatch, $"it is encrypted (with the key whose id is {storedKeyId}), and no encryption key is given; give the key it was encrypted with.");
        if (_appKey is null)
            return;
        var keyId = RecordCipher.KeyId(_appKey);
        if (storedKeyId is not null && storedKeyId != keyId)
            throw Problem(OutboxStoreProblem.KeyMismatch, $"it is encrypted with the key whose id is {storedKeyId}, but the given key's id is {keyId}; give the key it was encrypted with (a store keeps its key until it is deleted).");
        var salt = meta is not null && meta.TryGetValue("sid", out var stored) ? stored.AsBinary : RecordCipher.NewSalt();
        _keyBinding = (salt, keyId);
        _cipher?.Dispose();
        _cipher = new RecordCipher(_appKey, salt);
    }

    /// <summary>
    /// A quick check that the data file still holds every page the database counts (after the log is folded in): a
    /// store cut short by a copy or a damaged disk is refused at start, not discovered message by message.
    /// </summary>
    private void ThrowIfTruncated()
    {
        try
        {
            _db.Checkpoint();
        }
        catch (IOException)
        {
            // The disk is full or failing: the log keeps everything, and the pages cannot be compared now.
            return;
        }

        var lastPage = _db.GetCollection("$database").FindAll().First()["lastPageID"].AsInt32;
        var needed = (lastPage + 1L) * PageSize;
        if (_data.Length < needed)
            throw Problem(OutboxStoreProblem.Damaged, $"the file is truncated: it is {_data.Length} bytes but its pages reach {needed} bytes.");
    }

    private OutboxStoreException Problem(OutboxStoreProblem problem, string message, Exception? inner = null) =>
        new(FilePath, message, inner) { Problem = problem };

    public void BeginBatch()
    {
        if (_broken is not null)
            throw Problem(OutboxStoreProblem.WriteFailed, $"the store could not be reopened after a failed commit and takes no more work; start the publisher again ({_broken.Message}).", _broken);
        _staged = _committed;
        _dirty = false;
        _headChanged = false;
        _appending = null;
        _appendingCoalesced = false;
        if (!_db.BeginTrans())
            throw new InvalidOperationException("An outbox transaction is already open on this thread.");
    }

    /// <summary>Commits the batch and fsyncs the log; returns whether anything was written.</summary>
    public bool CommitBatch()
    {
        if (!_dirty)
        {
            _db.Rollback();
            return false;
        }

        InsertAppending();
        var meta = new BsonDocument
        {
            ["_id"] = MetaId,
            ["format"] = FormatName,
            ["version"] = FormatVersion,
            ["next"] = _staged.NextSequence,
            ["sent"] = _staged.SentThrough,
            ["count"] = _staged.Count,
            ["bytes"] = _staged.Bytes,
            ["dead"] = _staged.DeadLetters,
            ["dropped"] = _staged.Dropped,
            ["expired"] = _staged.Expired,
            ["superseded"] = _staged.Superseded,
            ["session"] = _staged.SessionServer is not null,
        };
        if (!string.IsNullOrEmpty(_staged.SessionServer))
            meta["server"] = _staged.SessionServer;
        if (_keyBinding is var (storeSalt, keyIdentity))
        {
            meta["sid"] = storeSalt;
            meta["kid"] = keyIdentity;
        }

        _released.WriteTo(meta);
        _removed.WriteTo(meta);
        meta["attempts"] = new BsonDocument(_attempts.ToDictionary(a => a.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), a => (BsonValue)a.Value));
        _meta.Upsert(meta);
        if (_headChanged)
            RefreshHead();

        _committing = true;
        _db.Commit();

        // The commit wrote its pages to the log with plain writes; this is the one fsync that makes them durable.
        _log.Flush();
        _committing = false;
        _committed = _staged;
        _released.Commit();
        _removed.Commit();
        if (_attemptsChanged)
            _committedAttempts = new(_attempts);
        _attemptsChanged = false;
        _dirty = false;
        if (_setAside.Count > 0)
        {
            _setAsideCommitted.AddRange(_setAside);
            _setAside.Clear();
        }

        PublishSnapshot();
        CheckpointWhenDue();
        return true;
    }

    /// <summary>
    /// Undoes a failed batch and says whether its outcome is known: nothing of it stored. When the failure came after the
    /// commit had started, the store reopens the database to continue from what is on disk, and looks: a batch whose
    /// counters did not reach the disk is known to be absent (LiteDB writes them in the same transaction); one whose did
    /// reached the log, but its fsync may have failed, so it may or may not survive a power cut: unknown.
    /// </summary>
    public bool RollbackBatch()
    {
        _dirty = false;
        _unreadable.Clear();
        _setAside.Clear();
        _headChanged = false;
        _appending = null;
        _appendingCoalesced = false;
        ForgetCachedSegments();
        if (!_committing)
        {
            try
            {
                _db.Rollback();
                _staged = _committed;
                _released.Undo();
                _removed.Undo();
                UndoAttempts();
                return true;
            }
            catch (Exception e) when (e is LiteException or IOException)
            {
                // LiteDB could not undo its own transaction; start over from the disk as after a failed commit.
            }
        }

        _committing = false;
        var before = _committed;
        var attempted = _staged;
        Reopen();
        return _broken is null && !SameCounters(_committed, attempted) && SameCounters(_committed, before);
    }

    private static bool SameCounters(Counters a, Counters b) =>
        a.NextSequence == b.NextSequence && a.SentThrough == b.SentThrough && a.Count == b.Count && a.Bytes == b.Bytes
        && a.DeadLetters == b.DeadLetters && a.Dropped == b.Dropped && a.Expired == b.Expired && a.Superseded == b.Superseded && a.SessionServer == b.SessionServer;

    /// <summary>
    /// Copies the log into the data file once it passed LiteDB's usual checkpoint size, after the commit is durable. A
    /// checkpoint fsyncs the data file (through <see cref="DurableFileStream"/>) before it truncates the log. If it fails
    /// (a full disk cannot grow the data file) the log simply keeps everything and the store tries again later.
    /// </summary>
    private void CheckpointWhenDue()
    {
        if (_log.Length < _checkpointAt)
            return;
        try
        {
            _db.Checkpoint();
            _checkpointAt = CheckpointLogBytes;
        }
        catch (Exception e) when (e is IOException or LiteException or UnauthorizedAccessException)
        {
            _checkpointAt = _log.Length + CheckpointLogBytes;
            Reopen();
        }
    }

    /// <summary>Starts LiteDB again over the same files: its recovery keeps exactly the commits that reached the log.</summary>
    private void Reopen()
    {
        AbandonedLiteDatabase.Drop(_db);
        try
        {
            Attach();
            Load();
        }
#pragma warning disable CA1031 // Recorded and reported by every later batch.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _broken = e;
        }
    }

    /// <summary>Stores a new message and returns its sequence.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="payload">The payload.</param>
    /// <param name="qos">The QoS.</param>
    /// <param name="retain">The retain flag.</param>
    /// <param name="now">When it is stored.</param>
    /// <param name="expiresAt">When it expires, if it does.</param>
    /// <param name="properties">Its MQTT 5 properties, if any.</param>
    /// <param name="coalesce">Whether it supersedes the topic's previous message while that one was never sent.</param>
    public long Append(
        string topic, ReadOnlySpan<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset now,
        DateTimeOffset? expiresAt = null, MessageProperties? properties = null, bool coalesce = false)
    {
        if (coalesce && Supersedable(topic) is { } older && Remove(older))
            _staged.Superseded++;
        var sequence = _staged.NextSequence++;
        var size = OutboxMessage.StoredSize(topic, payload.Length);

        // A coalesced message gets a segment of its own, so that superseding it deletes a document instead of leaving a bit
        // in the removed set: superseded messages are spread over the whole backlog, and their bits would never go.
        if (_appending is { } full && (coalesce || !full.HasRoomFor(size) || _appendingCoalesced))
            InsertAppending();
        _appending ??= new OutboxSegment(sequence);
        _appending.Add(topic, payload, qos, retain, now, expiresAt, properties, _cipher);
        _appendingCoalesced = coalesce;
        if (coalesce)
            _latest.Upsert(new BsonDocument { ["_id"] = TopicIndex(topic), ["s"] = sequence, ["f"] = _appending.First });
        _staged.Count++;
        _staged.Bytes += size;
        if (_staged.Count == 1)
            _headChanged = true;
        _dirty = true;
        return sequence;
    }

    /// <summary>
    /// The topic's previous coalesced message when a coalesced append would replace it: it is live and was never sent
    /// (above the "sent" mark and never read by the delivery session). Only the newest value of a current-value topic
    /// waits out an outage.
    /// </summary>
    public OutboxMessage? Supersedable(string topic)
    {
        if (_latest.FindById(TopicIndex(topic)) is not { } latest)
            return null;
        var sequence = latest["s"].AsInt64;
        var first = latest["f"].AsInt64;
        if (sequence <= Math.Max(_staged.SentThrough, _handedOutThrough) || _removed.Contains(sequence))
            return null;
        if (_appending?.First == first)
            InsertAppending();
        try
        {
            return _messages.FindById(first) is { } segment ? OutboxSegment.MessageAt(segment, (int)(sequence - first), _cipher) : null;
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            // Unreadable: not replaced, but set aside when a read reaches it.
            return null;
        }
    }

    /// <summary>How the store keys a coalesced topic: the topic, or with encryption a keyed hash of it.</summary>
    private string TopicIndex(string topic) => _cipher?.TopicIndex(topic) ?? topic;

    private void InsertAppending()
    {
        if (_appending is null)
            return;
        _messages.Insert(_appending.ToDocument());
        _appending = null;
        _appendingCoalesced = false;
    }

    /// <summary>Records that every message up to <paramref name="sequence"/> may have been sent.</summary>
    public void MarkSentThrough(long sequence)
    {
        if (sequence <= _staged.SentThrough)
            return;
        _staged.SentThrough = sequence;
        _dirty = true;
    }

    /// <summary>Records PUBREC for a QoS 2 message; must be durable before its PUBREL is sent.</summary>
    public void MarkReleased(long sequence)
    {
        _released.Add(sequence);
        _dirty = true;
    }

    /// <summary>Forgets a PUBREC: the broker lost the session, so the message must be published anew.</summary>
    public void ClearReleased(long sequence)
    {
        _released.Remove(sequence);
        _dirty = true;
    }

    /// <summary>
    /// Forgets every recorded PUBREC: the session moves to a broker that never received those messages, so they must be
    /// published there again instead of released.
    /// </summary>
    public void ClearAllReleased()
    {
        _released.Clear();
        _dirty = true;
    }

    /// <summary>Records on how many connections after the first an in-flight message has been resent.</summary>
    public void RecordAttempts(long sequence, int attempts)
    {
        _attempts[sequence] = attempts;
        _attemptsChanged = true;
        _dirty = true;
    }

    private void UndoAttempts()
    {
        if (_attemptsChanged)
            _attempts = new(_committedAttempts);
        _attemptsChanged = false;
    }

    /// <summary>Records that the delivery state now belongs to a session with <paramref name="server"/>.</summary>
    public void MarkSessionEstablished(string server)
    {
        _staged.SessionServer = server;
        _dirty = true;
    }

    /// <summary>
    /// Removes a message that the broker acknowledged (or a QoS 0 message about to be sent): the last live message of a
    /// segment deletes the segment, any other joins the removed set. Removing a removed message changes nothing and
    /// returns false.
    /// </summary>
    public bool Remove(OutboxMessage message)
    {
        var segment = message.SegmentFirst;
        if (_removed.Contains(message.Sequence) || !TryCountLive(message, out var live))
            return false;
        if (live == 1)
        {
            _messages.Delete(segment);
            _removed.RemoveRange(segment, message.SegmentLength);
            _liveInSegment.Remove(segment);
            if (_headSegment?.First == segment)
                _headSegment = null;
        }
        else
        {
            _removed.Add(message.Sequence);
            _liveInSegment[segment] = live - 1;
        }

        if (message.Qos == MqttQualityOfServiceLevel.ExactlyOnce)
            _released.Remove(message.Sequence);
        if (_attempts.Remove(message.Sequence))
            _attemptsChanged = true;
        _staged.Count--;

        // An unreadable message's size comes from its damaged record; the count must not go below what is left.
        _staged.Bytes = Math.Max(0, _staged.Bytes - message.Size);
        _headChanged = true;
        _dirty = true;
        return true;
    }

    /// <summary>How many messages of <paramref name="message"/>'s segment are live; false when the segment is gone.</summary>
    private bool TryCountLive(OutboxMessage message, out int live)
    {
        if (_liveInSegment.TryGetValue(message.SegmentFirst, out live))
            return true;
        if (!_messages.Exists(IdQuery("_id = @0", message.SegmentFirst)))
            return false;
        live = message.SegmentLength - _removed.CountIn(message.SegmentFirst, message.SegmentLength);
        return true;
    }

    private void ForgetCachedSegments()
    {
        _liveInSegment.Clear();
        _headSegment = null;
        _readEnd = null;
        ForgetUnsent();
    }

    private void ForgetUnsent()
    {
        _unsent.Clear();
        _unsentHead = 0;
    }

    /// <summary>Messages and bytes in the outbox as the open batch left them.</summary>
    public long PendingMessages => _staged.Count;

    /// <inheritdoc cref="PendingMessages"/>
    public long PendingBytes => _staged.Bytes;

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
        var more = ReadLive(after - OutboxSegment.MaxMessages + 1, after, OutboxSegment.MaxMessages);
        if (more.Count == 0 && _appending is not null)
        {
            // The only unsent messages left were appended by this batch.
            InsertAppending();
            more = ReadLive(after - OutboxSegment.MaxMessages + 1, after, OutboxSegment.MaxMessages);
        }

        _unsent.AddRange(more);
        return more.Count > 0;
    }

    /// <summary>Removes a message that expired before it was sent, and counts it.</summary>
    public void RemoveExpired(OutboxMessage message)
    {
        if (Remove(message))
            _staged.Expired++;
    }

    /// <summary>Moves a message to the dead-letter collection.</summary>
    public void MoveToDeadLetters(OutboxMessage message, DeadLetter deadLetter)
    {
        var document = OutboxSegment.Fields(message.Sequence, message.Topic, message.Payload, message.Qos, message.Retain, message.StoredAt, message.ExpiresAt, message.Properties, _cipher);
        document["_id"] = message.Sequence;
        document["reason"] = (int)deadLetter.Reason;
        document["code"] = deadLetter.ReasonCode is { } code ? code : BsonValue.Null;
        document["detail"] = deadLetter.Detail;
        _deadLetters.Insert(document);
        _staged.DeadLetters++;
        Remove(message);
    }

    /// <summary>Reads up to <paramref name="max"/> messages with a sequence above <paramref name="afterSequence"/>, in order.</summary>
    public List<OutboxMessage> ReadAfter(long afterSequence, int max)
    {
        InsertAppending();

        // Without a read that ended there, the segment holding the next message starts at most a segment's length before it.
        var from = _readEnd is { } end && end.Through == afterSequence ? end.NextSegment : afterSequence - OutboxSegment.MaxMessages + 1;
        var messages = ReadLive(from, afterSequence, max);
        if (messages.Count > 0)
        {
            var last = messages[^1];
            _readEnd = (last.Sequence, last.Sequence == last.SegmentFirst + last.SegmentLength - 1 ? last.Sequence + 1 : last.SegmentFirst);
            _handedOutThrough = Math.Max(_handedOutThrough, last.Sequence);
        }

        return messages;
    }

    /// <summary>Up to <paramref name="max"/> live messages above <paramref name="after"/>, from segments starting at <paramref name="fromSegment"/> or later.</summary>
    private List<OutboxMessage> ReadLive(long fromSegment, long after, int max)
    {
        var messages = LiveMessages(_messages.Find(IdQuery("_id >= @0", fromSegment)), after, long.MaxValue).Take(max).ToList();
        SetAsideUnreadable();
        return messages;
    }

    /// <summary>
    /// Reads every stored message that may have been sent: the in-flight head of the queue, each
    /// <see cref="DeliveryState.Released"/> when its PUBREC was recorded and <see cref="DeliveryState.Published"/> otherwise.
    /// </summary>
    public List<OutboxMessage> ReadSentRegion()
    {
        InsertAppending();
        var sentThrough = _committed.SentThrough;
        _handedOutThrough = Math.Max(_handedOutThrough, sentThrough);
        List<OutboxMessage> messages = [.. LiveMessages(_messages.Find(IdQuery("_id <= @0", sentThrough)), 0, sentThrough).Select(WithStoredState)];
        SetAsideUnreadable();
        return messages;
    }

    /// <summary>Sets the delivery state and resend count that the store recorded for <paramref name="message"/>.</summary>
    private OutboxMessage WithStoredState(OutboxMessage message)
    {
        message.State = message.Sequence > _committed.SentThrough ? DeliveryState.Queued
            : _released.Contains(message.Sequence) ? DeliveryState.Released : DeliveryState.Published;
        message.Attempts = _attempts.GetValueOrDefault(message.Sequence);
        return message;
    }

    /// <summary>
    /// Every live message, oldest first, with its delivery state as stored, read lazily one segment at a time: for tools
    /// that inspect a store no publisher has open, never for the delivery session.
    /// </summary>
    /// <remarks>
    /// Messages that fail their check are skipped and counted (<see cref="UnreadableSkipped"/>), not set aside: a tool
    /// that only reads changes nothing.
    /// </remarks>
    public IEnumerable<OutboxMessage> ReadAll()
    {
        _unreadable.Clear();
        foreach (var message in LiveMessages(_messages.FindAll(), 0, long.MaxValue))
            yield return WithStoredState(message);
    }

    /// <summary>How many messages the last <see cref="ReadAll"/>, as far as it was enumerated, skipped because they failed their check.</summary>
    public int UnreadableSkipped => _unreadable.Count;

    /// <summary>The live messages of <paramref name="segments"/> above <paramref name="after"/> and up to <paramref name="through"/>.</summary>
    private IEnumerable<OutboxMessage> LiveMessages(IEnumerable<BsonDocument> segments, long after, long through)
    {
        foreach (var segment in segments)
        {
            // A segment whose sequences cannot be read cannot have its messages counted out: it stays, verify reports
            // it, and the rest of the queue moves on.
            if (OutboxSegment.ShapeOf(segment, out var first, out var length) is not null)
                continue;

            for (var index = (int)Math.Max(0, after + 1 - first); index < length && first + index <= through; index++)
            {
                if (_removed.Contains(first + index))
                    continue;
                OutboxMessage message;
                try
                {
                    message = OutboxSegment.MessageAt(segment, index, _cipher);
                }
                catch (Exception e) when (StoredField.IsUnreadable(e))
                {
                    var record = OutboxSegment.TryFieldsAt(segment, index) ?? (BsonValue)new BsonDocument { ["raw"] = segment.TryGetValue("m", out var members) ? members : BsonValue.Null };
                    _unreadable.Add((OutboxSegment.Unreadable(segment, index), record, UnreadableDetail(e)));
                    continue;
                }

                yield return message;
            }
        }
    }

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
            _setAside.Add(DeadLetter.Of(message, DeadLetterReason.Unreadable, null, detail));
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

    /// <summary>
    /// A query on the sequence with the value as a parameter. LiteDB's <c>Query.GT(field, value)</c> writes the value into
    /// the expression's text, and LiteDB compiles every distinct text once and caches it for the life of the process:
    /// about 1 ms and 3 KB per read, never freed, in a queue that is read with a new sequence every time.
    /// </summary>
    private static BsonExpression IdQuery(string expression, long sequence) => BsonExpression.Create(expression, sequence);

    /// <summary>Reads up to <paramref name="max"/> dead letters above <paramref name="afterSequence"/>, oldest first.</summary>
    public List<DeadLetter> ReadDeadLetters(long afterSequence, int max) =>
        [.. _deadLetters.Find(IdQuery("_id > @0", afterSequence), 0, max).Select(ToDeadLetter)];

    /// <summary>Every dead letter with the message it holds, oldest first, read lazily: for tools, like <see cref="ReadAll"/>.</summary>
    public IEnumerable<(OutboxMessage Message, DeadLetter Letter)> ReadAllDeadLetters() =>
        _deadLetters.FindAll().Select(d =>
        {
            var decoded = ToMessageOrError(d);
            return (decoded.Message, ToDeadLetter(d, decoded));
        });

    /// <summary>
    /// A dead letter: the message's fields as a segment stores them, keyed by its sequence, and why it is here. One that
    /// fails its check reads as <see cref="DeadLetterReason.Unreadable"/>, without topic or payload.
    /// </summary>
    private DeadLetter ToDeadLetter(BsonDocument d) => ToDeadLetter(d, ToMessageOrError(d));

    /// <summary>The same, for a dead letter whose message is decoded already.</summary>
    private static DeadLetter ToDeadLetter(BsonDocument d, (OutboxMessage Message, Exception? Error) decoded)
    {
        var (message, error) = decoded;
        try
        {
            var reason = (DeadLetterReason)StoredField.Int32(d["reason"], "reason", 1, (int)DeadLetterReason.Unreadable);
            var code = d["code"].IsNull ? (int?)null : StoredField.Int32(d["code"], "code", 0, 255);
            var detail = StoredField.String(d["detail"], "detail");
            if (error is null || reason == DeadLetterReason.Unreadable)
                return DeadLetter.Of(message, reason, code, detail);
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            error ??= e;
        }

        return DeadLetter.Of(message, DeadLetterReason.Unreadable, null, UnreadableDetail(error));
    }

    /// <summary>
    /// The message a dead letter holds, read as a segment of one (its fields are a segment member's); one that fails its
    /// check reads as <see cref="OutboxSegment.Unreadable"/>.
    /// </summary>
    private OutboxMessage ToMessage(BsonDocument deadLetter) => ToMessageOrError(deadLetter).Message;

    private (OutboxMessage Message, Exception? Error) ToMessageOrError(BsonDocument deadLetter)
    {
        try
        {
            return (OutboxSegment.MessageAt(deadLetter, 0, _cipher), null);
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            return (OutboxSegment.Unreadable(deadLetter, 0), e);
        }
    }

    /// <summary>The dead letters with the given sequences (all when null), oldest first; unknown sequences are skipped.</summary>
    private List<BsonDocument> FindDeadLetters(IReadOnlyCollection<long>? sequences) =>
        sequences is null
            ? [.. _deadLetters.FindAll()]
            : [.. sequences.Distinct().Order().Select(s => _deadLetters.FindById(s)).OfType<BsonDocument>()];

    /// <summary>Deletes the dead letters with the given sequences (all when null); returns how many were deleted.</summary>
    public int PurgeDeadLetters(IReadOnlyCollection<long>? sequences)
    {
        var purged = sequences is null ? _deadLetters.DeleteAll() : sequences.Distinct().Count(s => _deadLetters.Delete(s));
        _staged.DeadLetters -= purged;
        _dirty |= purged > 0;
        return purged;
    }

    /// <summary>
    /// Moves the dead letters with the given sequences (all when null) back into the outbox as new messages at its end,
    /// oldest first, keeping when each was first stored. Returns the new sequences in that order, or null, moving nothing,
    /// when they do not all fit under <paramref name="limits"/> (a requeue drops nothing and does not wait), with how many
    /// messages and bytes were to move.
    /// </summary>
    public (List<long>? Sequences, int Messages, long Bytes) RequeueDeadLetters(IReadOnlyCollection<long>? sequences, OutboxLimits limits)
    {
        // A message that failed its check cannot be delivered: it stays a dead letter.
        var messages = FindDeadLetters(sequences).Select(ToMessage).Where(m => m.Topic.Length > 0).ToList();
        var bytes = messages.Sum(m => m.Size);
        if (!limits.Fits(_staged.Count, _staged.Bytes, messages.Count, bytes))
            return (null, messages.Count, bytes);

        var requeued = new List<long>(messages.Count);
        foreach (var message in messages)
        {
            requeued.Add(Append(message.Topic, message.Payload, message.Qos, message.Retain, message.StoredAt, message.ExpiresAt, message.Properties));
            _deadLetters.Delete(message.Sequence);
            _staged.DeadLetters--;
        }

        return (requeued, messages.Count, bytes);
    }

    /// <summary>Finds the oldest live message: the first one of the oldest segment that is not removed.</summary>
    private void RefreshHead()
    {
        _headSegment ??= _messages.Find(Query.All(), 0, 1).FirstOrDefault() is { } oldest ? HeadOf(oldest) : null;
        _staged.OldestSequence = 0;
        _staged.OldestStoredAt = null;
        if (_headSegment is not { } head)
            return;

        var (first, storedAt) = head;
        for (var index = 0; index < storedAt.Length; index++)
        {
            if (!_removed.Contains(first + index))
            {
                _staged.OldestSequence = first + index;
                _staged.OldestStoredAt = new DateTimeOffset(storedAt[index], TimeSpan.Zero);
                return;
            }
        }
    }

    /// <summary>
    /// The oldest segment's first sequence and store times. A segment too damaged to read them has no age to report; the
    /// commits that refresh the head must go on regardless.
    /// </summary>
    private static (long First, long[] StoredAtTicks) HeadOf(BsonDocument oldest)
    {
        try
        {
            return (OutboxSegment.FirstOf(oldest), OutboxSegment.StoredAtTicks(oldest));
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            return (0, []);
        }
    }

    private void PublishSnapshot() =>
        Snapshot = new OutboxSnapshot(
            _committed.Count,
            _committed.Bytes,
            _committed.OldestSequence,
            _committed.OldestStoredAt,
            _committed.NextSequence - 1,
            _committed.DeadLetters,
            _committed.Dropped,
            _committed.Expired,
            _committed.Superseded);

    public void Dispose()
    {
        // Leave a short log behind: the checkpoint fsyncs the data file through DurableFileStream before it truncates
        // the log. If it fails, the log keeps everything and the next open replays it.
        try
        {
            if (_broken is null)
                _db.Checkpoint();
        }
        catch (Exception e) when (e is IOException or LiteException or UnauthorizedAccessException)
        {
        }

        try
        {
            _db.Dispose();
        }
        catch (Exception e) when (e is IOException or LiteException)
        {
            // A failing disk: what is committed is in the log, which the next open replays.
        }

        _log.Dispose();
        _data.Dispose();
        _cipher?.Dispose();
    }

    private struct Counters
    {
        public long NextSequence;
        public long SentThrough;
        public long Count;
        public long Bytes;
        public long DeadLetters;
        public long Dropped;
        public long Expired;
        public long Superseded;
        public string? SessionServer;
        public long OldestSequence;
        public DateTimeOffset? OldestStoredAt;
    }
}
