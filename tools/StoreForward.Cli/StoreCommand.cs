using Spectre.Console;
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
        return StoreFailures.RunOnExistingStore(Environment, path, settings.KeyFile, key =>
        {
            using var store = OutboxStore.Open(path, key, settings.AllowWorldWritableDirectory, settings.ClientId);
            return Run(store, settings, cancellationToken);
        });
    }

    /// <summary>Says on standard error how many messages the last <see cref="OutboxStore.ReadAll"/> left out as unreadable.</summary>
    protected void WarnOfUnreadable(OutboxStore store)
    {
        if (store.UnreadableSkipped > 0)
            Environment.Error.MarkupLine($"[yellow]{Format.Count(store.UnreadableSkipped, "message")} could not be read and {(store.UnreadableSkipped == 1 ? "is" : "are")} left out; storeforward verify lists them.[/]");
    }

    /// <summary>The verb's work on the open store; returns the exit code.</summary>
    private protected abstract int Run(OutboxStore store, TSettings settings, CancellationToken cancellationToken);
}
