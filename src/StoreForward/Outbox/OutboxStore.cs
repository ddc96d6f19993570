using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// One publisher's durable outbox: its tenant of a <see cref="StoreFile"/>, a LiteDB file opened over our own
/// <see cref="DurableFileStream"/>s so that every commit ends with one fsync of the write-ahead log. A file usually holds
/// one outbox; publishers of one process that name the same store path share the file, each with its own records.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Only the <see cref="GroupCommitWriter"/>'s batches call into an open store, one at a time and each on one thread from
/// its start to its fsync (LiteDB transactions are bound to a thread), inside a transaction of its file that may hold the
/// batches of the file's other tenants too.</item>
/// <item>A store reads and writes only its own records: its header, and the keys of its <see cref="Tenant"/>.</item>
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
/// <item>When a commit fails after it started, its outcome is unknown: the file reopens the database over the same
/// (still locked) files and the store takes its counters from what is on disk, so a sequence is never handed out twice.</item>
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
    internal const string DeadLettersName = "dead_letters";

    /// <summary>Where a version 1 store kept a row per PUBREC (see <see cref="MetaDocument"/>).</summary>
    internal const string ReleasedRowsName = "released";

    /// <summary>The newest message of each coalesced topic: <c>{ _id: topic, s: sequence, f: its segment's first sequence }</c>.</summary>
    internal const string LatestName = "latest";

    private readonly StoreFile _file;
    private readonly TenantRecords _messages;
    private readonly TenantRecords _deadLetters;

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

    // In the header (see MetaDocument), as committed and as the open batch changed them.
    private SequenceSet _released = SequenceSet.Empty(MetaDocument.ReleasedKey);
    private SequenceSet _removed = SequenceSet.Empty(MetaDocument.RemovedKey);

    // The segment the open batch appends to; inserted when it is full, before anything reads, and at commit. A coalesced
    // message has one of its own.
    private OutboxSegment? _appending;
    private bool _appendingCoalesced;

    // Live messages of segments that were read or lost some already, so that the last removal, which deletes the segment,
    // is known without a read. A cache: cleared whenever a batch is undone, and filled again from the removed set.
    private readonly Dictionary<long, int> _liveInSegment = [];

    // When each message of the oldest segment was stored, for the head of the queue: read once, not on every commit that
    // removes a message, and without keeping the payloads.
    private (long First, long[] StoredAtTicks)? _headSegment;

    // The segment this store inserted last, while it is small: the session reads a message right after it was written far
    // more often than anything else, and this answers that read without a query. Dropped when the segment is deleted and
    // whenever a batch is undone; segments never change once written, and their removed messages are in the removed set.
    private (long First, int Length, BsonDocument Document)? _newest;

    /// <summary>The largest segment kept as <c>_newest</c>: a thousand publishers of one file keep at most 16 MB so.</summary>
    private const long NewestKeptBytes = 16 * 1024;

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

    // A new outbox in a shared file whose header is not on disk yet: the first batch writes it, whatever else it does.
    private bool _headerPending;
    private bool _headChanged;

    internal OutboxStore(StoreFile file, Tenant tenant, string? clientId, byte[]? appKey, bool allowWorldWritableDirectory)
    {
        _file = file;
        Tenant = tenant;
        ClientId = clientId;
        _appKey = appKey;
        _allowWorldWritableDirectory = allowWorldWritableDirectory;
        _messages = new TenantRecords(() => file.Messages, tenant);
        _deadLetters = new TenantRecords(() => file.DeadLetters, tenant);
    }

    /// <summary>The store file's full path.</summary>
    public string FilePath => _file.FilePath;

    /// <summary>The file this store is a tenant of.</summary>
    internal StoreFile SharedFile => _file;

    /// <summary>Where this store's records are in its file.</summary>
    public Tenant Tenant { get; }

    /// <summary>The ClientId of the publisher this store belongs to; null when a tool opened a store no ClientId claimed.</summary>
    public string? ClientId { get; private set; }

    /// <summary>
    /// When this outbox is new in a file that holds others: their ClientIds and pending messages, as this one started, so
    /// that a publisher whose ClientId changed learns where its messages wait.
    /// </summary>
    public IReadOnlyDictionary<string, long> OthersPending { get; set; } = new Dictionary<string, long>();

    private LiteDatabase Database => _file.Database;

    private ILiteCollection<BsonDocument> Latest => _file.Latest;

    /// <summary>The highest sequence recorded as sent; no message above it was ever sent.</summary>
    public long SentThrough => _committed.SentThrough;

    /// <summary>
    /// The broker whose session the stored delivery state belongs to, as the delivery engine names it (the store only keeps
    /// the name): null before any session; a server's session key when several servers keep sessions of their own; the
    /// engine's key for "the one broker" otherwise; empty for a store from before the broker was recorded.
    /// </summary>
    public string? SessionServer => _committed.SessionServer;

    /// <summary>fsyncs issued on the log and data files of the store's file (log: one per commit that changed something).</summary>
    public long SyncCount => _file.SyncCount;

    public OutboxSnapshot Snapshot { get; private set; } = null!;

    /// <summary>The write-ahead log file, for fault-injection tests.</summary>
    internal DurableFileStream LogFile => _file.LogFile;

    /// <summary>The data file, for fault-injection tests.</summary>
    internal DurableFileStream DataFile => _file.DataFile;

    private OutboxStoreException Problem(OutboxStoreProblem problem, string message, Exception? inner = null) =>
        new(FilePath, message, inner) { Problem = problem };

    /// <summary>Messages and bytes in the outbox as the open batch left them.</summary>
    public long PendingMessages => _staged.Count;

    /// <inheritdoc cref="PendingMessages"/>
    public long PendingBytes => _staged.Bytes;

    /// <summary>Leaves the file; the last of its tenants closes it.</summary>
    public void Dispose()
    {
        _file.Leave(this);
        Abandon();
    }

    /// <summary>Lets go of the key of a store that never joined its file (it failed to load) or has left it.</summary>
    internal void Abandon() => _cipher?.Dispose();
}
