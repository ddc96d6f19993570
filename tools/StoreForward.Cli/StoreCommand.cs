using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli;

/// <summary>
/// A verb that works on an open store: opens it, turns every way that can fail into a clear message and an exit code,
/// and closes it. The store is opened exclusively, as a publisher opens it, so a running publisher and a tool never
/// change it at the same time.
/// </summary>
internal abstract class StoreCommand<TSettings>(CliEnvironment environment) : Command<TSettings>
    where TSettings : StoreSettings
{
    protected CliEnvironment Environment { get; } = environment;

    public sealed override int Execute(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        var path = System.IO.Path.GetFullPath(settings.Path);

        // Opening a store creates it when it is missing; a tool must not leave an empty store behind a typo.
        if (!File.Exists(path))
            return Environment.Fail(ExitCodes.StoreUnreadable, $"There is no store at '{path}'.");
        byte[]? key;
        try
        {
            key = EncryptionKey.Read(settings.KeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return Environment.Fail(ExitCodes.Usage, e.Message);
        }

        try
        {
            using var store = OutboxStore.Open(path, key);
            return Run(store, settings, cancellationToken);
        }
        catch (OutboxStoreException e) when (e.Problem == OutboxStoreProblem.InUse)
        {
            return Environment.Fail(
                ExitCodes.StoreInUse,
                $"The store '{path}' is held by a running publisher or another storeforward command. Stop the app that publishes through it and try again; while it runs, its metrics and health check report on the store.");
        }
        catch (OutboxStoreException e) when (e.Problem == OutboxStoreProblem.KeyMismatch)
        {
            return Environment.Fail(ExitCodes.StoreUnreadable, $"{e.Message} Give the key with --key-file or {EncryptionKey.Variable}.");
        }
        catch (OutboxStoreException e) when (e.Problem != OutboxStoreProblem.WriteFailed)
        {
            return Environment.Fail(ExitCodes.StoreUnreadable, e.Message);
        }
        catch (Exception e) when (StoredField.IsUnreadable(e))
        {
            return Environment.Fail(ExitCodes.StoreUnreadable, $"The store '{path}' holds a record that cannot be read ({e.Message}); storeforward verify lists every such record.");
        }
        catch (IOException e)
        {
            return Environment.Fail(ExitCodes.Failed, $"Reading or writing '{path}' failed; what was committed before is intact. {e.Message}");
        }
    }

    /// <summary>The verb's work on the open store; returns the exit code.</summary>
    private protected abstract int Run(OutboxStore store, TSettings settings, CancellationToken cancellationToken);
}
