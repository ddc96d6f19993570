namespace StoreForward.Cli;

/// <summary>What <c>storeforward</c> returns, so that scripts can tell the cases apart.</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>
    /// <c>verify</c> found problems, <c>salvage</c> could not read everything (it wrote what it read), or some of the
    /// given sequences are not dead letters.
    /// </summary>
    public const int ProblemsFound = 1;

    /// <summary>
    /// The command line is invalid, including a key that cannot serve: a <c>--key-file</c> that is missing or unreadable,
    /// or a key file or <c>STOREFORWARD_ENCRYPTION_KEY</c> that does not hold a 32-byte key; or <c>salvage --into</c> names a
    /// path that cannot take the new store.
    /// </summary>
    public const int Usage = 2;

    /// <summary>A running publisher (or another tool) holds the store: stop it first.</summary>
    public const int StoreInUse = 3;

    /// <summary>
    /// The store cannot be read: no such file, damaged (<c>salvage</c> reads what is left), not an outbox, written by a
    /// newer StoreForward, or encrypted and opened with no key or another key than its own; for <c>salvage</c>, nothing
    /// of the store could be read.
    /// </summary>
    public const int StoreUnreadable = 4;

    /// <summary>A read or write failed during the work (for example a full disk); what was committed before is intact.</summary>
    public const int Failed = 5;

    /// <summary>Stopped by Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}
