namespace StoreForward.Outbox;

/// <summary>
/// Gets every readable message out of a damaged or quarantined store into a new store the app can use. The damaged files
/// are only ever read: they are copied into a private working directory beside the new store, LiteDB rebuilds the copy
/// from the pages it can read (<see cref="LiteDbRecovery"/>), the copy's header is made to agree with what is left
/// (<see cref="OutboxStore.Reconcile"/>), and the copy is written out as the new store the way compaction writes its
/// copy, checked, and moved into place with one rename. The working directory is deleted on <see cref="Dispose"/>; it
/// holds a marker file (<see cref="WorkMarker"/>) so that only a directory a salvage made is ever deleted.
/// </summary>
internal sealed class OutboxSalvage : IDisposable
{
    private readonly string _workDirectory;
    private readonly OutboxStore _copy;

    private OutboxSalvage(string workDirectory, OutboxStore copy, SalvageReport report)
    {
        _workDirectory = workDirectory;
        _copy = copy;
        Report = report;
    }

    public SalvageReport Report { get; }

    /// <summary>How many segments <see cref="WriteTo"/> copies (the unit of its progress).</summary>
    public int SegmentCount => _copy.SegmentCount;

    /// <summary>
    /// The file a salvage puts in its working directory when it creates it. A salvage that was killed leaves the directory
    /// behind, and the next one deletes it; a directory of that name without the marker is someone else's and is never
    /// deleted.
    /// </summary>
    public const string WorkMarker = "storeforward-salvage";

    /// <summary>Where a salvage into <paramref name="intoPath"/> works: beside it, so that the new store is moved in with a rename.</summary>
    public static string WorkDirectoryOf(string intoPath) => Path.GetFullPath(intoPath) + ".salvaging";

    /// <summary>
    /// Why the new store cannot be written at <paramref name="intoPath"/>, or null. A path where a file exists is refused,
    /// unless it is a store that never held a message or a dead letter nor started a broker session (as an app leaves
    /// one it started once with no broker and nothing to send): replacing it loses nothing. A file that cannot be opened
    /// as a store is refused, and left as it is. A log without its data file is refused too: it would be replayed into the
    /// new store. So is a working directory (<see cref="WorkDirectoryOf"/>) that no salvage made.
    /// </summary>
    /// <param name="intoPath">The new store's path.</param>
    /// <param name="key">The key to open an existing store with.</param>
    /// <param name="allowWorldWritableDirectory">Accept a world-writable directory for the new store, as the app does (<see cref="StoreForwardOptions.AllowWorldWritableStoreDirectory"/>).</param>
    public static string? TargetProblem(string intoPath, byte[]? key, bool allowWorldWritableDirectory)
    {
        var path = Path.GetFullPath(intoPath);
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
            return $"The directory of '{path}' does not exist.";
        if (Directory.Exists(path))
            return $"'{path}' is a directory; give the path of the new store file.";
        if (Path.Exists(WorkDirectoryOf(path)) && !IsWorkDirectory(WorkDirectoryOf(path)))
            return $"'{WorkDirectoryOf(path)}', where the salvage works, exists and is not a directory a salvage left (those hold a file '{WorkMarker}'); move it away.";
        var hadLog = File.Exists(OutboxStore.LogPathOf(path));
        if (!File.Exists(path))
        {
            return hadLog
                ? $"'{OutboxStore.LogPathOf(path)}' is a store log without its store; it would be replayed into the new store. Move it away, or salvage into another path."
                : null;
        }

        // Opening a store without its log creates an empty one; a store that is refused is left as it was.
        try
        {
            using var existing = OutboxStore.Open(path, key, allowWorldWritableDirectory);
            return existing.Snapshot is { LastSequence: 0, DeadLetters: 0 } && existing.SessionServer is null
                ? null
                : $"'{path}' is a store that holds messages, dead letters or a broker session. Salvage into a new path; never into the store an app uses.";
        }
        catch (OutboxStoreException e)
        {
            // Whatever the file is (not a store, damaged, held by an app, encrypted with another key), it is not an empty
            // store that replacing would lose nothing of.
            return $"'{path}' exists and is not an empty store that can be replaced ({e.Message}). Salvage into a new path.";
        }
        finally
        {
            if (!hadLog && new FileInfo(OutboxStore.LogPathOf(path)) is { Exists: true, Length: 0 })
                File.Delete(OutboxStore.LogPathOf(path));
        }
    }

    /// <summary>
    /// Reads the damaged store at <paramref name="damagedPath"/> (with its log) into a working copy for
    /// <paramref name="intoPath"/>. Throws an <see cref="OutboxStoreException"/> naming the damaged store when it is not
    /// an outbox (or LiteDB file) at all, of a newer format, encrypted with another key, or held by a publisher.
    /// </summary>
    /// <param name="damagedPath">The damaged store.</param>
    /// <param name="intoPath">Where the new store will be written.</param>
    /// <param name="key">The damaged store's encryption key, or null.</param>
    /// <param name="freshSession">
    /// Whether the new store starts a fresh broker session even when everything was read: another store used the
    /// ClientId since. Always so for a quarantined store (see <see cref="OutboxStore.Quarantine"/>), whose app started a
    /// fresh store that cleared the broker's session.
    /// </param>
    /// <param name="allowWorldWritableDirectory">Accept a world-writable directory for the new store, as the app does (<see cref="StoreForwardOptions.AllowWorldWritableStoreDirectory"/>).</param>
    public static OutboxSalvage Read(string damagedPath, string intoPath, byte[]? key, bool freshSession, bool allowWorldWritableDirectory)
    {
        var damaged = Path.GetFullPath(damagedPath);
        var work = WorkDirectoryOf(intoPath);
        DeleteWorkDirectory(work);

        // Checked by TargetProblem; something put there since must not get the marker that would have it deleted.
        if (Path.Exists(work))
            throw new IOException($"'{work}', where the salvage works, appeared while it started; move it away.");
        StoreFileAccess.CreateDirectory(work);
        try
        {
            File.WriteAllText(Path.Combine(work, WorkMarker), $"storeforward salvage of '{damaged}' works here; it deletes this directory when it ends.{Environment.NewLine}");
            var copyPath = Path.Combine(work, "damaged.db");
            var length = CopyFile(damaged, damaged, copyPath);
            if (File.Exists(OutboxStore.LogPathOf(damaged)))
                CopyFile(damaged, OutboxStore.LogPathOf(damaged), OutboxStore.LogPathOf(copyPath));
            var pageLosses = LiteDbRecovery.Rebuild(damaged, copyPath, length);
            var copy = OutboxStore.OpenSalvageCopy(copyPath, damaged, key, allowWorldWritableDirectory, out var headerProblem);
            try
            {
                var quarantined = Path.GetFileName(damaged).Contains(OutboxStore.QuarantineMark, StringComparison.Ordinal);
                var content = copy.Reconcile(headerRead: headerProblem is null, pagesLost: pageLosses.Count > 0, sessionMayBeKept: !freshSession && !quarantined);
                List<SalvageLoss> losses = [.. pageLosses, .. content.Losses];
                if (content.CountedMessages - content.Messages - content.UnreadableMessages is > 0 and var lostMessages)
                    losses.Add(new SalvageLoss($"{lostMessages} messages", $"the header counts {content.CountedMessages}, and only {content.Messages + content.UnreadableMessages} are left in the pages that can be read; which sequences were lost cannot be known"));
                if (content.CountedDeadLetters - content.DeadLetters - content.UnreadableDeadLetters is > 0 and var lostDeadLetters)
                    losses.Add(new SalvageLoss($"{lostDeadLetters} dead letters", $"the header counts {content.CountedDeadLetters}, and only {content.DeadLetters + content.UnreadableDeadLetters} are left in the pages that can be read"));
                return new OutboxSalvage(work, copy, new SalvageReport(damaged, headerProblem, content, losses));
            }
            catch
            {
                copy.Dispose();
                throw;
            }
        }
        catch
        {
            DeleteWorkDirectory(work);
            throw;
        }
    }

    /// <summary>
    /// Writes the new store at <paramref name="intoPath"/>: a checked copy, moved there with one rename once it is
    /// complete, so that a crash leaves no half-written store where the app would open it. Returns null once written,
    /// or, writing nothing there, why <paramref name="intoPath"/> can no longer take it (see <see cref="TargetProblem"/>).
    /// </summary>
    /// <param name="intoPath">The new store's path (see <see cref="TargetProblem"/>).</param>
    /// <param name="key">The key to open an existing store at <paramref name="intoPath"/> with.</param>
    /// <param name="progress">Gets the number of segments written so far.</param>
    /// <param name="allowWorldWritableDirectory">Accept a world-writable directory for the new store, as the app does (<see cref="StoreForwardOptions.AllowWorldWritableStoreDirectory"/>).</param>
    public string? WriteTo(string intoPath, byte[]? key, bool allowWorldWritableDirectory, IProgress<int>? progress)
    {
        var path = Path.GetFullPath(intoPath);
        var written = Path.Combine(_workDirectory, "salvaged.db");
        _copy.WriteCheckedCopy(written, progress);

        // Checked again: something may have been put there while the copy was written, and the store that may be
        // replaced must still be one that loses nothing.
        if (TargetProblem(path, key, allowWorldWritableDirectory) is { } problem)
            return problem;
        File.Delete(OutboxStore.LogPathOf(path));
        File.Move(written, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
        return null;
    }

    public void Dispose()
    {
        _copy.Dispose();
        DeleteWorkDirectory(_workDirectory);
    }

    /// <summary>
    /// Copies a damaged store's file, holding a shared lock on it so that no publisher opens it meanwhile (a publisher
    /// holding it makes this fail as <see cref="OutboxStoreProblem.InUse"/>); returns its length.
    /// </summary>
    private static long CopyFile(string storePath, string source, string destination)
    {
        FileStream input;
        try
        {
            input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new OutboxStoreException(storePath, $"'{source}' cannot be read; a publisher (or another storeforward) probably has it open ({e.Message}).", e) { Problem = OutboxStoreProblem.InUse };
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new OutboxStoreException(storePath, $"'{source}' cannot be read ({e.Message}).", e) { Problem = OutboxStoreProblem.Unusable };
        }

        using (input)
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using var output = new FileStream(destination, options);
            input.CopyTo(output);
            return input.Length;
        }
    }

    /// <summary>
    /// Whether <paramref name="path"/> is a directory a salvage created: not a link, with its marker file (not a link
    /// either) in it.
    /// </summary>
    private static bool IsWorkDirectory(string path) =>
        new DirectoryInfo(path) is { Exists: true, LinkTarget: null }
        && new FileInfo(Path.Combine(path, WorkMarker)) is { Exists: true, LinkTarget: null };

    /// <summary>Deletes a working directory, with the copies of payloads in it (left by a salvage that was killed, too).</summary>
    private static void DeleteWorkDirectory(string path)
    {
        if (IsWorkDirectory(path))
            Directory.Delete(path, recursive: true);
    }
}
