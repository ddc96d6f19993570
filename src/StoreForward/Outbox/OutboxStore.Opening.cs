using LiteDB;

namespace StoreForward.Outbox;

// Opening and creating a store, moving a damaged one aside, reading its header, and binding the encryption key.
internal sealed partial class OutboxStore
{
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
        if (LiteDbFileHeader.ProblemOf(fullPath) is { } notLiteDb)
            throw new OutboxStoreException(fullPath, notLiteDb) { Problem = OutboxStoreProblem.Damaged };
        StoreFileAccess.RestrictToOwner(fullPath);
        StoreFileAccess.RestrictToOwner(LogPathOf(fullPath));

        var created = !File.Exists(fullPath) || !File.Exists(LogPathOf(fullPath));
        var originalDataLength = File.Exists(fullPath) ? new FileInfo(fullPath).Length : 0;
        var data = OpenFile(fullPath, fullPath);
        DurableFileStream? log = null;
        try
        {
            log = OpenFile(fullPath, LogPathOf(fullPath));
            var store = new OutboxStore(fullPath, data, log, encryptionKey) { _allowWorldWritableDirectory = allowWorldWritableDirectory };
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
            if (_meta.FindById(MetaDocument.Id) is not { } header)
            {
                CreateOrRefuse(originalDataLength);
                return;
            }

            var meta = MetaDocument.Read(header, FilePath);
            ThrowIfTruncated();
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

    private void CreateOrRefuse(long originalDataLength)
    {
        var collections = _db.GetCollectionNames().Where(n => !n.StartsWith('$')).ToList();
        var ours = new[] { MessagesName, DeadLettersName, MetaDocument.CollectionName, ReleasedRowsName, LatestName };
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
    private void StartEmpty(KeyBinding? keyBinding)
    {
        BindKey(keyBinding);
        _staged = default;
        _staged.NextSequence = 1;
        _released = SequenceSet.Empty(MetaDocument.ReleasedKey);
        _removed = SequenceSet.Empty(MetaDocument.RemovedKey);
        _dirty = true;
        _db.BeginTrans();
        CommitBatch();
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
}
