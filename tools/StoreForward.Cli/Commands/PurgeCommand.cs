using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

/// <summary><c>purge</c>: dead letters are deleted for good.</summary>
internal sealed class PurgeCommand(CliEnvironment environment) : DeadLetterChangeCommand(environment)
{
    private protected override (int Changed, IReadOnlyList<long>? Sequences) Change(OutboxStore store, IReadOnlyCollection<long>? selection) =>
        (store.PurgeDeadLetters(selection), null);

    private protected override string Describe(DeadLetterChange change) =>
        change.Changed == 0 ? "Nothing to purge." : $"Purged {Format.Count(change.Changed, "dead letter")}.";
}
