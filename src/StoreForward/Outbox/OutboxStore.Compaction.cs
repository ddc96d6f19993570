using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// Compaction: LiteDB reuses the pages of deleted documents but never gives them back, so a store that once held a large
/// backlog stays that large. Compaction writes a copy without the free pages and swaps it in with one rename.
/// </summary>
/// <remarks>
/// LiteDB's own <c>Rebuild()</c> is not used: it leaves a backup file behind, fails on large collections (LiteDB #2269,
/// #2525) and, with our streams, would bypass the fsync that makes a commit durable. The copy is made with the same
/// durable streams, checked against the store's counters, and only then renamed over the store: a crash at any point
/// leaves either the old store or the complete new one, never a mix. The rename is safe because the store's log is empty
/// by then (it is folded into the data file first), so the new data file never meets an old log.
/// </remarks>
internal sealed partial class OutboxStore
{
    /// <summary>Documents copied per transaction: a segment holds at most 1 MiB, so a transaction stays well bounded.</summary>
    private const int DocumentsPerCopyCommit = 64;

    /// <summary>Where the copy is written, beside the store, before it replaces it.</summary>
    public static string CompactionPathOf(string path) =>
        Path.Combine(Path.GetDirectoryName(path) ?? ".", Path.GetFileNameWithoutExtension(path) + ".compacting" + Path.GetExtension(path));

    /// <summary>
    /// Compacts this store, which must not be in use by a publisher (an operator's tool opened it), and returns the data
    /// file's length before and after. The store stays open over the old file, which is gone from the directory; dispose
    /// it next.
    /// </summary>
    /// <param name="progress">Gets the number of segments copied so far (see <see cref="SegmentCount"/>).</param>
    public (long BytesBefore, long BytesAfter) Compact(IProgress<int>? progress = null)
    {
        Database.Checkpoint();
        if (_file.LogFile.Length != 0)
            throw Problem(OutboxStoreProblem.WriteFailed, "its log could not be folded into the data file, so it cannot be compacted now; nothing changed.");

        var before = _file.DataFile.Length;
        var copyPath = CompactionPathOf(FilePath);
        DeleteStoreFiles(copyPath); // A copy left by an interrupted compaction.
        try
        {
            WriteCheckedCopy(copyPath, progress);
            var after = new FileInfo(copyPath).Length;
            File.Move(copyPath, FilePath, overwrite: true);
            DirectorySync.Flush(Path.GetDirectoryName(FilePath)!);
            return (before, after);
        }
        catch
        {
            DeleteStoreFiles(copyPath);
            throw;
        }
    }

    /// <summary>
    /// Writes a copy of this store at <paramref name="copyPath"/> (which must not exist) and checks that it opens and holds
    /// what the store holds: a single data file, durable, its log folded in and deleted. Compaction swaps it in; a salvage
    /// moves it to the new store's path. The caller deletes the copy when this throws.
    /// </summary>
    public void WriteCheckedCopy(string copyPath, IProgress<int>? progress)
    {
        CopyTo(copyPath, progress);
        using (var copy = Open(copyPath, _appKey, _allowWorldWritableDirectory, ClientId))
        {
            if (copy.Snapshot != Snapshot)
                throw Problem(OutboxStoreProblem.WriteFailed, $"the copy '{copyPath}' does not hold what the store holds ({copy.Snapshot} instead of {Snapshot}); nothing changed.");
        }

        // Closing the copy folded its log into its data file and fsynced it; the empty log is not needed.
        if (new FileInfo(LogPathOf(copyPath)).Length != 0)
            throw Problem(OutboxStoreProblem.WriteFailed, $"the log of the copy '{copyPath}' could not be folded into it; nothing changed.");
        File.Delete(LogPathOf(copyPath));
    }

    /// <summary>Copies every collection, document by document, into a new database at <paramref name="copyPath"/>.</summary>
    private void CopyTo(string copyPath, IProgress<int>? progress)
    {
        using var data = DurableFileStream.OpenExclusive(copyPath);
        using var log = DurableFileStream.OpenExclusive(LogPathOf(copyPath));
        using var copy = new LiteDatabase(data, new BsonMapper(), log);
        copy.CheckpointSize = 0;
        var copiedSegments = 0;
        foreach (var name in Database.GetCollectionNames().Where(n => !n.StartsWith('$')))
        {
            var target = copy.GetCollection(name);
            foreach (var chunk in Database.GetCollection(name).FindAll().Chunk(DocumentsPerCopyCommit))
            {
                copy.BeginTrans();
                target.Insert(chunk);
                copy.Commit();
                if (name == MessagesName)
                    progress?.Report(copiedSegments += chunk.Length);
            }
        }

        // Durability comes at the end: the checkpoint writes every page into the data file and fsyncs it. A crash before
        // that leaves a partial copy, which the next compaction deletes.
        copy.Checkpoint();
    }

    private static void DeleteStoreFiles(string path)
    {
        File.Delete(path);
        File.Delete(LogPathOf(path));
    }
}
