using System.Buffers.Binary;
using System.Globalization;
using LiteDB;

namespace StoreForward.Outbox;

/// <summary>
/// Has LiteDB rebuild a working copy of a damaged database from whatever it can read. LiteDB 5.0.21's rebuild reads the
/// data pages of the data file, and of the confirmed transactions in the log, directly, without the indexes, and skips
/// and records each page or record it cannot read. It runs when a database is opened with auto-rebuild and its header
/// carries the "invalid state" mark, the one LiteDB sets itself after a close that failed: the copy gets that mark. The
/// rebuild renames and replaces the files it works on, so it only ever runs on a copy.
/// </summary>
internal static class LiteDbRecovery
{
    private const int PageSize = 8192;

    // Where LiteDB's file format (version 8) keeps these in the header page (its signature: LiteDbFileHeader).
    private const int LastPageIdOffset = 64;
    private const int InvalidStateOffset = 191;

    /// <summary>Where the rebuild reports what it could not read; dropped once read.</summary>
    private const string ErrorsCollection = "_rebuild_errors";

    /// <summary>
    /// Bounds how far a copy cut short is filled up again: a header damaged to count billions of pages must not make
    /// the rebuild read terabytes of zeros. 8 GiB is far beyond any outbox's size limit.
    /// </summary>
    private const long MaxPages = 1L << 20;

    /// <summary>
    /// Rebuilds the copy at <paramref name="copyPath"/> (with its log beside it) in place and returns the pages and
    /// records it could not read. Throws an <see cref="OutboxStoreException"/> naming <paramref name="storePath"/> when the
    /// copy has no LiteDB header, or LiteDB cannot rebuild it at all.
    /// </summary>
    /// <param name="storePath">The damaged store, for messages.</param>
    /// <param name="copyPath">The working copy of its data file.</param>
    /// <param name="originalLength">The damaged data file's length: pages past it were cut off.</param>
    public static List<SalvageLoss> Rebuild(string storePath, string copyPath, long originalLength)
    {
        MarkForRebuild(storePath, copyPath);
        List<BsonDocument> errors;
        List<string> nameless;
        try
        {
            using var db = new LiteDatabase(new ConnectionString { Filename = copyPath, AutoRebuild = true, Connection = ConnectionType.Direct });
            errors = [.. db.GetCollection(ErrorsCollection).FindAll()];
            db.DropCollection(ErrorsCollection);

            // The rebuild names a collection whose name was lost after its page: col_<page>.
            nameless = [.. db.GetCollectionNames().Where(n => n.StartsWith("col_", StringComparison.Ordinal))];
            foreach (var name in nameless)
                db.DropCollection(name);
        }
        catch (Exception e) when (e is LiteException or InvalidCastException or ArgumentException or IndexOutOfRangeException or InvalidOperationException)
        {
            throw new OutboxStoreException(storePath, $"LiteDB cannot rebuild it from its pages ({e.Message}); nothing can be read.", e) { Problem = OutboxStoreProblem.Damaged };
        }

        var losses = Describe(errors, originalLength);
        losses.AddRange(nameless.Select(n => new SalvageLoss($"the documents of {n}", "their collection's name was lost with the header page, so they cannot be told apart; not read")));
        return losses;
    }

    /// <summary>
    /// Checks that the copy starts with a LiteDB header, fills a copy cut short up to the pages its header counts (as
    /// zeros, which the rebuild reports page by page: without them it reads no page at all), and sets the mark.
    /// </summary>
    private static void MarkForRebuild(string storePath, string copyPath)
    {
        using var file = new FileStream(copyPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var header = new byte[PageSize];
        var read = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (read <= InvalidStateOffset || !LiteDbFileHeader.Matches(header.AsSpan(0, read)))
        {
            throw new OutboxStoreException(storePath, $"its first page is not a LiteDB header (the file holds {file.Length} bytes: it was cut short before the header ended, overwritten, or is not a LiteDB database); nothing can be read.")
            {
                Problem = OutboxStoreProblem.Damaged,
            };
        }

        var counted = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(LastPageIdOffset)) + 1L;
        var whole = (file.Length + PageSize - 1) / PageSize;
        file.SetLength(Math.Max(whole, Math.Min(counted, MaxPages)) * PageSize);
        file.Position = InvalidStateOffset;
        file.WriteByte(1);
    }

    /// <summary>
    /// LiteDB's reason in words an operator can act on where it is its page check, whose message LiteDB 5.0.21 leaves
    /// with its placeholders unfilled.
    /// </summary>
    private static string Explain(string message) =>
        message.StartsWith("Expect read pageID", StringComparison.Ordinal)
            ? "it does not hold the page that belongs there (overwritten or damaged)"
            : message;

    /// <summary>The rebuild's errors, one per page and reason, consecutive pages with the same reason as one range.</summary>
    private static List<SalvageLoss> Describe(List<BsonDocument> errors, long originalLength)
    {
        var pages = errors
            .Select(e =>
            {
                var inLog = e["origin"].AsString == "Log";
                var page = e["pageID"].AsInt32;
                var reason = !inLog && e["positionID"].AsInt64 >= originalLength
                    ? $"it lies past the end of the data file ({originalLength.ToString("N0", CultureInfo.InvariantCulture)} bytes): the file was cut short"
                    : Explain(e["message"].AsString);
                return (File: inLog ? "the log" : "the data file", Page: page, Reason: reason);
            })
            .Distinct()
            .OrderBy(p => p.File, StringComparer.Ordinal).ThenBy(p => p.Page)
            .ToList();

        var losses = new List<SalvageLoss>();
        for (var start = 0; start < pages.Count;)
        {
            var end = start;
            while (end + 1 < pages.Count && pages[end + 1].File == pages[start].File && pages[end + 1].Reason == pages[start].Reason && pages[end + 1].Page == pages[end].Page + 1)
                end++;
            var what = end == start ? $"page {pages[start].Page} of {pages[start].File}" : $"pages {pages[start].Page} to {pages[end].Page} of {pages[start].File}";
            losses.Add(new SalvageLoss(what, pages[start].Reason));
            start = end + 1;
        }

        return losses;
    }
}
