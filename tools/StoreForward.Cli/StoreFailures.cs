using StoreForward.Outbox;

namespace StoreForward.Cli;

/// <summary>
/// How every verb turns the ways reading a key or a store can fail into a message naming the file and an exit code, so
/// that the verbs that open a store and <c>salvage</c>, which reads a damaged one, answer the same way.
/// </summary>
internal static class StoreFailures
{
    /// <summary>
    /// Reads the key (see <see cref="EncryptionKey.Read"/>); a key file that is missing, unreadable or not a key is a
    /// usage error (<see cref="ExitCodes.Usage"/>): the command line names something that cannot serve as a key.
    /// </summary>
    private static bool TryReadKey(CliEnvironment environment, string? keyFile, out byte[]? key, out int exitCode)
    {
        try
        {
            key = EncryptionKey.Read(keyFile);
            exitCode = ExitCodes.Ok;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            key = null;
            exitCode = environment.Fail(ExitCodes.Usage, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> with the key <paramref name="keyFile"/> names on the store at <paramref name="path"/>
    /// (a full path), which must exist: opening a store creates it when it is missing, and a tool must not leave an empty
    /// store behind a typo. A missing store or a key that cannot serve ends with its exit code before anything is opened;
    /// the store's failures map as <see cref="Run"/> maps them.
    /// </summary>
    public static int RunOnExistingStore(CliEnvironment environment, string path, string? keyFile, Func<byte[]?, int> work)
    {
        if (!File.Exists(path))
            return environment.Fail(ExitCodes.StoreUnreadable, $"There is no store at '{path}'.");
        if (!TryReadKey(environment, keyFile, out var key, out var keyFailure))
            return keyFailure;
        return Run(environment, path, () => work(key));
    }

    /// <summary>Runs <paramref name="work"/> on the store at <paramref name="path"/> and maps its failures to exit codes.</summary>
    private static int Run(CliEnvironment environment, string path, Func<int> work)
    {
        try
        {
            return work();
        }
        catch (OutboxStoreException e) when (e.Problem == OutboxStoreProblem.InUse)
        {
            return environment.Fail(
                ExitCodes.StoreInUse,
                $"The store '{e.StorePath}' is held by a running publisher or another storeforward command. Stop the app that publishes through it and try again; while it runs, its metrics and health check report on the store.");
        }
        catch (OutboxStoreException e) when (e.Problem == OutboxStoreProblem.KeyMismatch)
        {
            // The key was read but does not open this store (or none was given): the store cannot be read with it.
            return environment.Fail(ExitCodes.StoreUnreadable, $"{e.Message} Give the key with --key-file or {EncryptionKey.Variable}.");
        }
        catch (OutboxStoreException e) when (e.Problem != OutboxStoreProblem.WriteFailed)
        {
            return environment.Fail(ExitCodes.StoreUnreadable, e.Message);
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            return environment.Fail(ExitCodes.StoreUnreadable, $"The store '{path}' holds a record that cannot be read ({e.Message}); storeforward verify lists every such record, and storeforward salvage copies every readable one into a new store.");
        }
        catch (IOException e)
        {
            return environment.Fail(ExitCodes.Failed, $"Reading or writing '{path}' failed; what was committed before is intact. {e.Message}");
        }
    }
}
