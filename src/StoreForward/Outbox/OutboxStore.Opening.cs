using LiteDB;

namespace StoreForward.Outbox;

// Opening and creating a store, moving a damaged one aside, reading its header, and binding the encryption key.
internal sealed partial class OutboxStore
{
    /// <summary>
    /// Opens or creates the store at <paramref name="path"/> (and its directory, owner-only, when that is missing), with
    /// clear errors for every way that can fail. Publishers of one process that name the same path share its file, each
    /// with the outbox of its own ClientId (see <see cref="StoreFile"/>).
    /// </summary>
    /// <param name="path">The store file.</param>
    /// <param name="encryptionKey">The app's key (32 bytes) to encrypt messages with, or null to store them in clear.</param>
    /// <param name="allowWorldWritableDirectory">Accept a directory every user can write to (a container volume).</param>
    /// <param name="clientId">
    /// The publisher's ClientId, which finds its outbox in a shared file; null for a tool, which opens the file's only
    /// outbox (or a new file's first).
    /// </param>
    public static OutboxStore Open(string path, byte[]? encryptionKey = null, bool allowWorldWritableDirectory = false, string? clientId = null) =>
        StoreFile.OpenTenant(path, clientId, encryptionKey, allowWorldWritableDirectory);

    /// <summary>Opens every outbox of a store file, one per ClientId that shares it, for a tool (see <see cref="StoreFile.OpenEveryTenant"/>).</summary>
    public static List<OutboxStore> OpenEvery(string path, byte[]? encryptionKey = null, bool allowWorldWritableDirectory = false) =>
        StoreFile.OpenEveryTenant(path, encryptionKey, allowWorldWritableDirectory);

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

    /// <summary>
    /// Reads the store's header and counters, or starts an empty store when its file has no header for it (the file
    /// decided that it may: see <see cref="StoreFile"/>).
    /// </summary>
    /// <param name="starts">Whether a missing header starts an empty store; otherwise it is lost, and the file damaged.</param>
    /// <param name="claims">
    /// The publisher's ClientId claims a store no ClientId claimed yet, which is recorded at once, so that no other
    /// publisher of the file can claim it too.
    /// </param>
    internal void Load(bool starts = false, bool claims = false)
    {
        try
        {
            if (_file.Meta.FindById(Tenant.HeaderId) is not { } header)
            {
                if (!starts && !_headerPending)
                    throw Problem(OutboxStoreProblem.Damaged, "the file is damaged: it has the outbox's records but lost its header.");

                // A file's first outbox makes the file an outbox at once; another's header waits for its first commit, so
                // that a thousand publishers joining a file do not pay a commit each.
                if (Tenant == Tenant.First && !_headerPending)
                    StartEmpty(null);
                else
                    StartPending();
                return;
            }

            var meta = MetaDocument.Read(header, FilePath);
            ClientId ??= meta.ClientId;
            BindKey(meta.Key);
            _staged = meta.Counters;
            _removed = meta.Removed;
            _attempts = meta.Attempts;
            _committedAttempts = new(_attempts);
            ForgetCachedSegments();
            RefreshHead();
            _committed = _staged;
            if (meta.Released is { } released)
                _released = released;
            else
                MigrateRowPerPubRec();
            if (claims)
                RecordClaim();

            PublishSnapshot();
        }
        catch (Exception e) when (e is LiteException or InvalidCastException or IndexOutOfRangeException or KeyNotFoundException)
        {
            throw Problem(OutboxStoreProblem.Damaged, $"the file is damaged ({e.Message}).", e);
        }
    }

    private void RecordClaim()
    {
        BeginBatch();
        try
        {
            _dirty = true;
            CommitBatch();
        }
        catch (Exception e) when (e is IOException or LiteException)
        {
            RollbackBatch();
            throw Problem(OutboxStoreProblem.WriteFailed, $"the ClientId '{ClientId}' could not be recorded in the store ({e.Message}); nothing else changed, and opening the store again retries it.", e);
        }
    }

    /// <summary>
    /// Moves a version 1 store's PUBREC rows into the meta document, and the store to the current version, in one commit:
    /// a crash leaves either the old store or the new one.
    /// </summary>
    private void MigrateRowPerPubRec()
    {
        var rows = Database.GetCollection(ReleasedRowsName);
        _released = SequenceSet.Of(MetaDocument.ReleasedKey, rows.FindAll().Select(d => d["_id"].AsInt64));
        BeginBatch();
        try
        {
            rows.DeleteAll();
            _dirty = true;
            CommitBatch();
        }
        catch (IOException e)
        {
            throw Problem(OutboxStoreProblem.WriteFailed, $"the store could not be upgraded from format version {MetaDocument.RowPerPubRecVersion} to {MetaDocument.CurrentVersion} ({e.Message}). The upgrade is one commit, so nothing is lost: opening the store again retries it.", e);
        }
    }

    /// <summary>
    /// Commits the header of an empty store: sequences from 1, no session. A new store binds the app's key afresh; a
    /// salvage passes what is left of a damaged header, whose store salt still opens the records sealed with it.
    /// </summary>
    private void StartEmpty(KeyBinding? keyBinding)
    {
        StartPending(keyBinding);
        BeginBatch();
        CommitBatch();
    }

    /// <summary>
    /// Starts an empty store whose header is written with its first commit (<c>_headerPending</c>): nothing of it is on
    /// disk before that, so a crash before it leaves nothing to find. Its tenant number is taken in the file's index.
    /// </summary>
    private void StartPending(KeyBinding? keyBinding = null)
    {
        BindKey(keyBinding);
        _committed = default;
        _committed.NextSequence = 1;
        _staged = _committed;
        _released = SequenceSet.Empty(MetaDocument.ReleasedKey);
        _removed = SequenceSet.Empty(MetaDocument.RemovedKey);
        _attempts = [];
        _committedAttempts = [];
        ForgetCachedSegments();
        _headerPending = true;
        PublishSnapshot();
    }

    /// <summary>
    /// Checks the app's key against the one the store was encrypted with, and sets up the cipher. A store opened with a key
    /// for the first time gets its salt and the key's id in its next commit, before or with its first sealed message.
    /// </summary>
    private void BindKey(KeyBinding? stored)
    {
        if (stored is { } sealedWith && _appKey is null)
            throw Problem(OutboxStoreProblem.KeyMismatch, $"it is encrypted (with the key whose id is {sealedWith.KeyId}), and no encryption key is given; give the key it was encrypted with.");
        if (_appKey is null)
            return;
        var keyId = RecordCipher.KeyId(_appKey);
        if (stored is { } other && other.KeyId != keyId)
            throw Problem(OutboxStoreProblem.KeyMismatch, $"it is encrypted with the key whose id is {other.KeyId}, but the given key's id is {keyId}; give the key it was encrypted with (a store keeps its key until it is deleted).");
        var salt = stored?.Salt ?? RecordCipher.NewSalt();
        _keyBinding = new KeyBinding(salt, keyId);
        _cipher?.Dispose();
        _cipher = new RecordCipher(_appKey, salt);
    }
}
