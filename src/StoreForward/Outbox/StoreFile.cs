using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// One store file and what every publisher of the process that names it shares: the data and log files, held exclusively,
/// the LiteDB instance over them, its transaction, the one fsync that ends each commit, the checkpoint, and the reopen
/// after a commit failed half way. Each publisher is a tenant of the file (an <see cref="OutboxStore"/> with its own
/// ClientId, sequences, marks and counters, see <see cref="Tenant"/>), and the tenants' batches commit together
/// (<see cref="CommitGroup"/>), so a thousand publishers pay one fsync per commit, not one each.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>A file is open once per process (<see cref="OpenTenant"/> looks it up by its full path) and held by every tenant
/// that uses it; the last tenant to leave closes it. Another process is refused by the lock on the files.</item>
/// <item>A ClientId is a tenant of a file at most once at a time: two publishers with one session would each resend the
/// other's messages.</item>
/// <item>Everything that touches the database runs under <see cref="Gate"/>, one thing at a time, and every transaction
/// begins and commits on one thread (LiteDB binds transactions to threads).</item>
/// <item>LiteDB's automatic checkpoint is off: it would run inside <c>Commit()</c>, before our fsync of the log, copying
/// pages that are not yet durable into the data file and turning a checkpoint failure (a full disk growing the data file)
/// into a "failed" commit that in fact landed. The file checkpoints itself, after the fsync.</item>
/// <item>When a commit fails after it started, its outcome is unknown: the file reopens the database over the same (still
/// locked) files, and every tenant takes its counters from what is on disk, so no sequence is ever handed out twice.</item>
/// </list>
/// </remarks>
internal sealed class StoreFile
{
    internal const long PageSize = 8192;

    /// <summary>LiteDB's own default checkpoint point (1,000 pages of 8 KiB): the log is copied into the data file past it.</summary>
    private const long CheckpointLogBytes = 1000 * PageSize;

    // The files open in this process, by full path, and a lock per path that orders opening, joining and closing each, so
    // that a thousand publishers on files of their own open them side by side. Path locks stay: a process names few paths.
    private static readonly Dictionary<string, StoreFile> Open = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, object> PathLocks = new(StringComparer.Ordinal);

    private readonly DurableFileStream _data;
    private readonly DurableFileStream _log;
    // The tenants that have the file open, by tenant number.
    private readonly Dictionary<int, OutboxStore> _tenants = [];

    // The tenants the file holds or this process gave out, read from the headers at the first join.
    private TenantIndex? _known;
    private readonly bool _registered;
    private long _checkpointAt = CheckpointLogBytes;
    private bool _committing;

    private StoreFile(string path, DurableFileStream data, DurableFileStream log, bool registered)
    {
        FilePath = path;
        _data = data;
        _log = log;
        _registered = registered;
        Commits = new CommitGroup(this);
    }

    /// <summary>The store file's full path.</summary>
    public string FilePath { get; }

    /// <summary>Held by whatever touches the database: a batch, a tenant joining or leaving, a tool.</summary>
    public object Gate { get; } = new();

    /// <summary>Runs the tenants' batches, together.</summary>
    public CommitGroup Commits { get; }

    public LiteDatabase Database { get; private set; } = null!;

    public ILiteCollection<BsonDocument> Messages { get; private set; } = null!;

    public ILiteCollection<BsonDocument> DeadLetters { get; private set; } = null!;

    public ILiteCollection<BsonDocument> Meta { get; private set; } = null!;

    public ILiteCollection<BsonDocument> Latest { get; private set; } = null!;

    /// <summary>Why the file takes no more work: it could not be reopened after a failed commit.</summary>
    public Exception? Broken { get; private set; }

    /// <summary>fsyncs issued on the log and data files (log: one per commit that changed something).</summary>
    public long SyncCount => _log.SyncCount + _data.SyncCount;

    public DurableFileStream LogFile => _log;

    public DurableFileStream DataFile => _data;

    /// <summary>Whether a publisher of this process has the store at <paramref name="fullPath"/> open.</summary>
    public static bool IsOpenInProcess(string fullPath)
    {
        lock (Open)
            return Open.ContainsKey(fullPath);
    }

    /// <summary>
    /// Opens the store at <paramref name="path"/> for <paramref name="clientId"/>: joins the file when a publisher of this
    /// process has it open already, or opens (and creates) it. See <see cref="OutboxStore.Open"/>.
    /// </summary>
    public static OutboxStore OpenTenant(string path, string? clientId, byte[]? encryptionKey, bool allowWorldWritableDirectory)
    {
        var fullPath = FullPathOf(path);
        lock (PathLock(fullPath))
        {
            if (Registered(fullPath) is { } shared)
                return shared.Join(clientId, encryptionKey, allowWorldWritableDirectory, originalDataLength: null);

            var (file, originalDataLength) = OpenFiles(fullPath, allowWorldWritableDirectory, registered: true);
            try
            {
                var tenant = file.Join(clientId, encryptionKey, allowWorldWritableDirectory, originalDataLength);
                Register(file);
                return tenant;
            }
            catch
            {
                file.Close();
                throw;
            }
        }
    }

    /// <summary>
    /// Opens every outbox of the store at <paramref name="path"/>, one per ClientId, for a tool that shows them all. The
    /// file must not be open in this process; disposing the last of them closes it.
    /// </summary>
    public static List<OutboxStore> OpenEveryTenant(string path, byte[]? encryptionKey, bool allowWorldWritableDirectory)
    {
        var fullPath = FullPathOf(path);
        lock (PathLock(fullPath))
        {
            if (Registered(fullPath) is not null)
                throw new OutboxStoreException(fullPath, "a publisher of this process has the store open.") { Problem = OutboxStoreProblem.InUse };
            var (file, originalDataLength) = OpenFiles(fullPath, allowWorldWritableDirectory, registered: true);
            try
            {
                lock (file.Gate)
                {
                    var headers = file.Headers();
                    if (headers.Count == 0)
                    {
                        file.Join(clientId: null, encryptionKey, allowWorldWritableDirectory, originalDataLength);
                    }
                    else
                    {
                        foreach (var (tenant, clientId, _) in headers)
                        {
                            var store = new OutboxStore(file, tenant, clientId, encryptionKey, allowWorldWritableDirectory);
                            file.Add(store);
                            store.Load();
                        }
                    }
                }

                Register(file);
                return [.. file._tenants.Values];
            }
            catch
            {
                foreach (var store in file._tenants.Values)
                    store.Abandon();
                file.Close();
                throw;
            }
        }
    }

    /// <summary>
    /// Opens a copy the tool writes (compaction, salvage) as a file of its own, never shared: errors name
    /// <paramref name="storePath"/>, the store the operator knows.
    /// </summary>
    public static StoreFile OpenCopy(string storePath, string copyPath)
    {
        var data = OpenFile(storePath, copyPath);
        try
        {
            var file = new StoreFile(storePath, data, OpenFile(storePath, OutboxStore.LogPathOf(copyPath)), registered: false);
            file.Attach();
            return file;
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    private static object PathLock(string fullPath)
    {
        lock (PathLocks)
        {
            if (!PathLocks.TryGetValue(fullPath, out var pathLock))
                PathLocks.Add(fullPath, pathLock = new object());
            return pathLock;
        }
    }

    private static StoreFile? Registered(string fullPath)
    {
        lock (Open)
            return Open.GetValueOrDefault(fullPath);
    }

    private static void Register(StoreFile file)
    {
        lock (Open)
            Open.Add(file.FilePath, file);
    }

    private static string FullPathOf(string path)
    {
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OutboxStoreException(path, $"the path is not valid: {e.Message}", e) { Problem = OutboxStoreProblem.Unusable };
        }
    }

    /// <summary>
    /// Opens (or creates) the files at <paramref name="fullPath"/> and their directory, owner-only, with clear errors for
    /// every way that can fail, and checks that the data file still holds every page the database counts.
    /// </summary>
    private static (StoreFile File, long OriginalDataLength) OpenFiles(string fullPath, bool allowWorldWritableDirectory, bool registered)
    {
        var directory = Path.GetDirectoryName(fullPath)
            ?? throw new OutboxStoreException(fullPath, "the path names no file.") { Problem = OutboxStoreProblem.Unusable };
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
        StoreFileAccess.RestrictToOwner(OutboxStore.LogPathOf(fullPath));

        var created = !File.Exists(fullPath) || !File.Exists(OutboxStore.LogPathOf(fullPath));
        var originalDataLength = File.Exists(fullPath) ? new FileInfo(fullPath).Length : 0;
        var data = OpenFile(fullPath, fullPath);
        DurableFileStream? log = null;
        try
        {
            log = OpenFile(fullPath, OutboxStore.LogPathOf(fullPath));
            var file = new StoreFile(fullPath, data, log, registered);
            try
            {
                file.Attach();
            }
            catch (Exception e) when (e is LiteException or InvalidCastException or IOException or ArgumentException or IndexOutOfRangeException or InvalidOperationException)
            {
                throw new OutboxStoreException(fullPath, $"the file is damaged or is not a LiteDB database ({e.Message}).", e) { Problem = OutboxStoreProblem.Damaged };
            }

            try
            {
                file.ThrowIfTruncated();
                if (created)
                    DirectorySync.Flush(directory);
            }
            catch
            {
                file.Close();
                throw;
            }

            return (file, originalDataLength);
        }
        catch
        {
            log?.Dispose();
            data.Dispose();
            throw;
        }
    }

    private static DurableFileStream OpenFile(string storePath, string filePath)
    {
        try
        {
            return DurableFileStream.OpenExclusive(filePath);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new OutboxStoreException(storePath, $"'{filePath}' cannot be opened exclusively; another process probably has the store open ({e.Message}).", e) { Problem = OutboxStoreProblem.InUse };
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new OutboxStoreException(storePath, $"'{filePath}' cannot be opened for reading and writing ({e.Message}).", e) { Problem = OutboxStoreProblem.Unusable };
        }
    }

    /// <summary>Opens LiteDB over our streams (it never disposes them, so reopening keeps the files locked).</summary>
    private void Attach()
    {
        Database = new LiteDatabase(_data, new BsonMapper(), _log);
        Database.CheckpointSize = 0;
        Messages = Database.GetCollection(OutboxStore.MessagesName, BsonAutoId.Int64);
        DeadLetters = Database.GetCollection(OutboxStore.DeadLettersName, BsonAutoId.Int64);
        Meta = Database.GetCollection(MetaDocument.CollectionName);
        Latest = Database.GetCollection(OutboxStore.LatestName);
    }

    /// <summary>
    /// Adds the tenant of <paramref name="clientId"/>: the one whose header names it; else, for a publisher, the first
    /// tenant when no ClientId claimed it yet (a file from before sharing, or one a tool created); else a new one. Without
    /// a ClientId (a tool, a test) the file's only tenant, or a new file's first.
    /// </summary>
    /// <param name="clientId">The publisher's ClientId; null for a tool.</param>
    /// <param name="encryptionKey">The app's key, or null.</param>
    /// <param name="allowWorldWritableDirectory">Whether the tenant's tool copies may lie in a world-writable directory.</param>
    /// <param name="originalDataLength">The data file's length before LiteDB opened it, when this opens the file.</param>
    private OutboxStore Join(string? clientId, byte[]? encryptionKey, bool allowWorldWritableDirectory, long? originalDataLength)
    {
        lock (Gate)
        {
            var known = _known ??= TenantIndex.Of(Headers());
            if (clientId is not null && known.Find(clientId) is { } named && _tenants.ContainsKey(named.Number))
                throw new OutboxStoreException(FilePath, $"a publisher of this process with the ClientId '{clientId}' has the store open already; each publisher of a shared store needs a ClientId of its own.") { Problem = OutboxStoreProblem.InUse };

            Tenant tenant;
            var claims = false;
            var existing = true;
            if (known.Count == 0)
            {
                RefuseUnlessNew(originalDataLength ?? PageSize);
                tenant = Tenant.First;
                existing = false;
            }
            else if (clientId is not null && known.Find(clientId) is { } own)
            {
                tenant = own;
            }
            else if (clientId is null)
            {
                tenant = known.Sole ?? throw new OutboxStoreException(FilePath, $"the store is shared by the publishers with the ClientIds {string.Join(", ", known.ClientIds.Select(c => $"'{c}'"))}; name one (--client-id).") { Problem = OutboxStoreProblem.Unusable };
            }
            else if (known.FirstUnclaimed && !_tenants.ContainsKey(Tenant.First.Number))
            {
                tenant = Tenant.First;
                claims = true;
            }
            else
            {
                if (known.Next >= Tenant.MaxTenants)
                    throw new OutboxStoreException(FilePath, $"the store holds {known.Count} publishers' outboxes, the most one file can hold; give the publisher a StorePath of its own.") { Problem = OutboxStoreProblem.Unusable };
                tenant = new Tenant(known.Next);
                existing = false;
            }

            if (_tenants.ContainsKey(tenant.Number))
                throw new OutboxStoreException(FilePath, "a publisher of this process has the store open already; give each publisher of a shared store a ClientId of its own.") { Problem = OutboxStoreProblem.InUse };

            var store = new OutboxStore(this, tenant, clientId, encryptionKey, allowWorldWritableDirectory);
            try
            {
                store.Load(starts: !existing, claims);
            }
            catch
            {
                store.Abandon();
                throw;
            }

            if (!existing && known.Count > 0)
                store.OthersPending = known.PendingOutside(_tenants.ContainsKey);
            known.Record(tenant, store.ClientId);
            Add(store);
            return store;
        }
    }

    private void Add(OutboxStore tenant) => _tenants.Add(tenant.Tenant.Number, tenant);

    /// <summary>Adds the first tenant of a copy the tool opened (<see cref="OpenCopy"/>), for the caller to load or start.</summary>
    public OutboxStore AddSoleTenant(byte[]? encryptionKey, bool allowWorldWritableDirectory)
    {
        lock (Gate)
        {
            var store = new OutboxStore(this, Tenant.First, clientId: null, encryptionKey, allowWorldWritableDirectory);
            Add(store);
            return store;
        }
    }

    /// <summary>Every tenant's header: its number, the ClientId it belongs to if one claimed it, and its pending messages.</summary>
    public List<(Tenant Tenant, string? ClientId, long Pending)> Headers()
    {
        lock (Gate)
        {
            return [.. Meta.FindAll()
                .Select(h => (Tenant: Tenant.OfHeader(h["_id"]), ClientId: h.TryGetValue(MetaDocument.ClientKey, out var client) && client.IsString ? client.AsString : null, Pending: h.TryGetValue("count", out var count) && count.IsNumber ? count.AsInt64 : 0))
                .Where(h => h.Tenant is not null)
                .Select(h => (h.Tenant!.Value, h.ClientId, h.Pending))
                .OrderBy(h => h.Value.Number)];
        }
    }

    /// <summary>
    /// A file without any header is new, unless it holds anything else: LiteDB quietly starts a new database in a file
    /// shorter than one page, so a store truncated that far must be recognised here, or it would open as an empty queue.
    /// </summary>
    private void RefuseUnlessNew(long originalDataLength)
    {
        var collections = Database.GetCollectionNames().Where(n => !n.StartsWith('$')).ToList();
        var ours = new[] { OutboxStore.MessagesName, OutboxStore.DeadLettersName, MetaDocument.CollectionName, OutboxStore.ReleasedRowsName, OutboxStore.LatestName };
        if (collections.Count > 0 && collections.All(ours.Contains))
            throw new OutboxStoreException(FilePath, "the file is damaged: it has the outbox's collections but lost its header.") { Problem = OutboxStoreProblem.Damaged };
        if (collections.Count > 0)
            throw new OutboxStoreException(FilePath, $"the file is a LiteDB database but not a StoreForward outbox (it has the collections {string.Join(", ", collections)} and no StoreForward header).") { Problem = OutboxStoreProblem.Foreign };

        // A new store is one page (LiteDB's header) or nothing; a crash while it was being created leaves no more.
        if (originalDataLength > PageSize || originalDataLength % PageSize != 0)
            throw new OutboxStoreException(FilePath, $"the file is damaged or truncated: it held {originalDataLength} bytes but no outbox.") { Problem = OutboxStoreProblem.Damaged };
    }

    /// <summary>A tenant leaves; the last one closes the file.</summary>
    public void Leave(OutboxStore tenant)
    {
        lock (PathLock(FilePath))
        {
            lock (Gate)
            {
                _tenants.Remove(tenant.Tenant.Number);
                _known?.Left(tenant.Tenant, tenant.ClientId, tenant.Snapshot.PendingMessages);
                if (_tenants.Count > 0)
                    return;
            }

            if (_registered)
            {
                lock (Open)
                    Open.Remove(FilePath);
            }

            Close();
        }
    }

    /// <summary>Begins a transaction on this thread.</summary>
    public void Begin()
    {
        if (Broken is not null)
            throw new OutboxStoreException(FilePath, $"the store could not be reopened after a failed commit and takes no more work; start the publisher again ({Broken.Message}).", Broken) { Problem = OutboxStoreProblem.WriteFailed };
        if (!Database.BeginTrans())
            throw new InvalidOperationException("An outbox transaction is already open on this thread.");
    }

    /// <summary>Commits the open transaction and fsyncs the log, or rolls it back when it wrote nothing; returns which.</summary>
    public bool Commit(bool wrote)
    {
        if (!wrote)
        {
            Database.Rollback();
            return false;
        }

        _committing = true;
        Database.Commit();

        // The commit wrote its pages to the log with plain writes; this is the one fsync that makes them durable.
        _log.Flush();
        _committing = false;
        return true;
    }

    /// <summary>
    /// Undoes a failed transaction and says whether its outcome is known: nothing of it stored. When the failure came after
    /// the commit had started, the file reopens the database to continue from what is on disk, and its tenants look: a
    /// batch whose counters did not reach the disk is known to be absent (LiteDB writes them in the same transaction); one
    /// whose did reached the log, but its fsync may have failed, so it may or may not survive a power cut: unknown.
    /// </summary>
    /// <param name="participants">The tenants whose work the transaction held.</param>
    public bool Rollback(IReadOnlyList<OutboxStore> participants)
    {
        var wrote = participants.Where(p => p.HasStagedChanges).ToList();
        foreach (var participant in participants)
            participant.ForgetBatch();
        if (!_committing)
        {
            try
            {
                Database.Rollback();
                foreach (var participant in participants)
                    participant.UndoStaged();
                return true;
            }
            catch (Exception e) when (e is LiteException or IOException)
            {
                // LiteDB could not undo its own transaction; start over from the disk as after a failed commit.
            }
        }

        _committing = false;
        var attempts = wrote.Select(p => p.Attempt()).ToList();
        Reopen();
        return Broken is null && attempts.TrueForAll(attempt => attempt());
    }

    /// <summary>
    /// Copies the log into the data file once it passed LiteDB's usual checkpoint size, after the commit is durable. A
    /// checkpoint fsyncs the data file (through <see cref="DurableFileStream"/>) before it truncates the log. If it fails
    /// (a full disk cannot grow the data file) the log simply keeps everything and the file tries again later.
    /// </summary>
    public void CheckpointWhenDue()
    {
        if (_log.Length < _checkpointAt)
            return;
        try
        {
            Database.Checkpoint();
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
        AbandonedLiteDatabase.Drop(Database);
        try
        {
            Attach();
            ThrowIfTruncated();
            foreach (var tenant in _tenants.Values)
                tenant.Load();
        }
#pragma warning disable CA1031 // Recorded and reported by every later batch.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Broken = e;
        }
    }

    /// <summary>
    /// A quick check that the data file still holds every page the database counts (after the log is folded in): a
    /// store cut short by a copy or a damaged disk is refused at start, not discovered message by message.
    /// </summary>
    private void ThrowIfTruncated()
    {
        try
        {
            Database.Checkpoint();
        }
        catch (IOException)
        {
            // The disk is full or failing: the log keeps everything, and the pages cannot be compared now.
            return;
        }

        var lastPage = Database.GetCollection("$database").FindAll().First()["lastPageID"].AsInt32;
        var needed = (lastPage + 1L) * PageSize;
        if (_data.Length < needed)
            throw new OutboxStoreException(FilePath, $"the file is truncated: it is {_data.Length} bytes but its pages reach {needed} bytes.") { Problem = OutboxStoreProblem.Damaged };
    }

    /// <summary>
    /// Closes the file. It leaves a short log behind: the checkpoint fsyncs the data file through
    /// <see cref="DurableFileStream"/> before it truncates the log. If it fails, the log keeps everything and the next
    /// open replays it.
    /// </summary>
    public void Close()
    {
        lock (Gate)
        {
            try
            {
                if (Broken is null)
                    Database?.Checkpoint();
            }
            catch (Exception e) when (e is IOException or LiteException or UnauthorizedAccessException)
            {
            }

            try
            {
                Database?.Dispose();
            }
            catch (Exception e) when (e is IOException or LiteException)
            {
                // A failing disk: what is committed is in the log, which the next open replays.
            }

            _log.Dispose();
            _data.Dispose();
        }
    }
}
