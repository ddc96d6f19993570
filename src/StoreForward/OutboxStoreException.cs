namespace StoreForward;

/// <summary>
/// The outbox file cannot be used: the path is unusable, another process holds it, it is not a StoreForward store, or
/// it is damaged. The message names the file and the problem.
/// </summary>
public sealed class OutboxStoreException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    public OutboxStoreException(string path, string problem, Exception? innerException = null)
        : base($"StoreForward outbox '{path}': {problem}", innerException)
    {
        StorePath = path;
    }

    /// <summary>The full path of the store file concerned.</summary>
    public string StorePath { get; }
}
