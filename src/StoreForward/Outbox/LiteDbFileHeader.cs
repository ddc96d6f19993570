namespace StoreForward.Outbox;

/// <summary>
/// Recognises a LiteDB data file by the start of its header page, without opening it. LiteDB takes any file it is given:
/// one too short to hold a header it quietly overwrites with a new database, so a path that names the wrong file (a typo
/// in <c>StorePath</c>, a tool pointed at a text file) must be refused before LiteDB sees it, or the file is gone.
/// </summary>
internal static class LiteDbFileHeader
{
    /// <summary>Where LiteDB's file format (version 8) writes its signature and its version in the header page.</summary>
    public const int SignatureOffset = 32;
    public const int FileVersionOffset = 59;
    public const byte FileVersion = 8;
    private static readonly byte[] Signature = "** This is a LiteDB file **"u8.ToArray();

    /// <summary>Bytes needed to tell: the signature and the version.</summary>
    public const int Length = FileVersionOffset + 1;

    /// <summary>Whether <paramref name="start"/>, the first bytes of a file, are those of a LiteDB data file of format version 8.</summary>
    public static bool Matches(ReadOnlySpan<byte> start) =>
        start.Length >= Length && start.Slice(SignatureOffset, Signature.Length).SequenceEqual(Signature) && start[FileVersionOffset] == FileVersion;

    /// <summary>
    /// Why the existing file at <paramref name="path"/> is not a LiteDB data file, or null when it is one, is empty (a new
    /// store, or a crash before its first byte) or does not exist. A file another process holds is left for the caller
    /// to report.
    /// </summary>
    public static string? ProblemOf(string path)
    {
        var start = new byte[Length];
        int read;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (file.Length == 0)
                return null;
            read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return Matches(start.AsSpan(0, read))
            ? null
            : $"it does not start with a LiteDB header ({(read < Length ? $"it holds only {read} bytes" : "its first bytes are something else")}): it is damaged, or it is not a store at all; it was left as it is.";
    }
}
