using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// The durable outbox: a LiteDB file opened over our own <see cref="DurableFileStream"/>s so that every commit ends with
/// one fsync of the write-ahead log.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Only the <see cref="GroupCommitWriter"/>'s batches call into an open store, one at a time and each on one thread from
/// its start to its fsync (LiteDB transactions are bound to a thread).</item>
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
/// <para>
/// The header these rest on is the <see cref="MetaDocument"/>. After every commit, in DEBUG builds,
/// <c>AssertInvariants</c> checks what of them this class's own logic keeps; what a file brings with it is for
/// <c>storeforward verify</c>. The class is one state machine on one thread,
/// split by concern into partial files: opening, batches, appending, session marks, removal, the unsent cursor, reading,
/// set-aside records, dead letters, the head, and the tool's compaction, verification and salvage.
/// </para>
/// </remarks>
internal sealed partial class OutboxStore : IDisposable
{
    internal const string MessagesName = "outbox";
    private const string DeadLettersName = "dead_letters";

    /// <summary>Where a version 1 store kept a row per PUBREC (see <see cref="MetaDocument"/>).</summary>
    internal const string ReleasedRowsName = "released";

    /// <summary>The newest message of each coalesced topic: <c>{ _id: topic, s: sequence, f: its segment's first sequence }</c>.</summary>
    private const string LatestName = "latest";

    private const long PageSize = 8192;

    /// <summary>LiteDB's own default checkpoint point (1,000 pages of 8 KiB): the log is copied into the data file past it.</summary>
    private const long CheckpointLogBytes = 1000 * PageSize;

    private readonly DurableFileStream _data;
    private readonly DurableFileStream _log;

    // Encryption at rest (null: messages are stored in clear). The store's salt and the key's id live in the meta document.
    private readonly byte[]? _appKey;

    // Whether the store's directory may be world-writable (StoreForwardOptions.AllowWorldWritableStoreDirectory): a copy
    // written beside the store (compaction) is opened under the same rule.
    private bool _allowWorldWritableDirectory;
    private KeyBinding? _keyBinding;
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

    // In the header (see MetaDocument), as committed and as the open batch changed them.
    private SequenceSet _released = SequenceSet.Empty(MetaDocument.ReleasedKey);
    private SequenceSet _removed = SequenceSet.Empty(MetaDocument.RemovedKey);

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
    private StoreCounters _committed;

    // State of the open batch; copied to _committed on commit.
    private StoreCounters _staged;
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
        _meta = _db.GetCollection(MetaDocument.CollectionName);
        _latest = _db.GetCollection(LatestName);
    }

    public string FilePath { get; }

    /// <summary>The highest sequence recorded as sent; no message above it was ever sent.</summary>
    public long SentThrough => _committed.SentThrough;

    /// <summary>
    /// The broker whose session the stored delivery state belongs to, as the delivery engine names it (the store only keeps
    /// the name): null before any session; a server's session key when several servers keep sessions of their own; the
    /// engine's key for "the one broker" otherwise; empty for a store from before the broker was recorded.
    /// </summary>
    public string? SessionServer => _committed.SessionServer;

    /// <summary>fsyncs issued on the log and data files (log: one per commit that changed something).</summary>
    public long SyncCount => _log.SyncCount + _data.SyncCount;

    public OutboxSnapshot Snapshot { get; private set; } = null!;

    /// <summary>The write-ahead log file, for fault-injection tests.</summary>
    internal DurableFileStream LogFile => _log;

    /// <summary>The data file, for fault-injection tests.</summary>
    internal DurableFileStream DataFile => _data;

    private OutboxStoreException Problem(OutboxStoreProblem problem, string message, Exception? inner = null) =>
        new(FilePath, message, inner) { Problem = problem };

    /// <summary>Messages and bytes in the outbox as the open batch left them.</summary>
    public long PendingMessages => _staged.Count;

    /// <inheritdoc cref="PendingMessages"/>
    public long PendingBytes => _staged.Bytes;

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
}
