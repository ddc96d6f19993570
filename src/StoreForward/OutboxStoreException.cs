namespace StoreForward;

/// <summary>
/// The outbox file cannot be used: the path is unusable, another process holds it, it is not a StoreForward store, or
/// it is damaged. The message names the file and the problem.
/// </summary>
public sealed class OutboxStoreException : IOException
{
    /// <summary>The exception for <paramref name="path"/>; set <see cref="Problem"/> unless the write failed.</summary>
    /// <remarks>
    /// Internal: only the store knows what went wrong with its file. The standard exception constructors (CA1032) are left
    /// out for the same reason: they would make exceptions without a <see cref="StorePath"/>.
    /// </remarks>
    internal OutboxStoreException(string path, string problem, Exception? innerException = null)
        : base($"StoreForward outbox '{path}': {problem}", innerException)
    {
        StorePath = path;
    }

    /// <summary>The full path of the store file concerned.</summary>
    public string StorePath { get; }

    /// <summary>What kind of problem it is, so that an app can react (for example quarantine only damaged stores).</summary>
    public OutboxStoreProblem Problem { get; internal init; } = OutboxStoreProblem.WriteFailed;
}

/// <summary>The kinds of <see cref="OutboxStoreException"/>.</summary>
public enum OutboxStoreProblem
{
    /// <summary>A read or write of the store failed (for example a full disk); earlier messages are intact.</summary>
    WriteFailed = 0,

    /// <summary>The path is invalid, its directory is missing, or the file cannot be opened for reading and writing.</summary>
    Unusable = 1,

    /// <summary>Another process has the store open, or a publisher of this process with the same ClientId.</summary>
    InUse = 2,

    /// <summary>The file is damaged or truncated.</summary>
    Damaged = 3,

    /// <summary>The file is not a StoreForward outbox (another LiteDB database, or another format).</summary>
    Foreign = 4,

    /// <summary>The outbox was written by a newer StoreForward with a format this version does not read.</summary>
    UnsupportedVersion = 5,

    /// <summary>
    /// The outbox is encrypted with another key than <see cref="StoreForwardOptions.EncryptionKey"/>, or no key is given for
    /// an encrypted outbox.
    /// </summary>
    KeyMismatch = 6,
}
