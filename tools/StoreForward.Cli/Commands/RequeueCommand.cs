using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

/// <summary><c>requeue</c>: dead letters go back to the end of the outbox, keeping when they were first stored.</summary>
internal sealed class RequeueCommand(CliEnvironment environment) : DeadLetterChangeCommand(environment)
{
    // An operator who requeues wants the messages back whatever the app's limits; the publisher applies its limits to
    // new publishes, which wait or are refused until the backlog drains.
    private protected override (int Changed, IReadOnlyList<long>? Sequences) Change(OutboxStore store, IReadOnlyCollection<long>? selection)
    {
        var (sequences, messages, _) = store.RequeueDeadLetters(selection, OutboxLimits.Unbounded);
        return (messages, sequences);
    }

    private protected override string Describe(DeadLetterChange change) =>
        change.Sequences is [var first, .., var last]
            ? $"Requeued {Format.Count(change.Changed)} dead letters as sequences {first} to {last}; the publisher delivers them when it runs."
            : change.Sequences is [var only]
                ? $"Requeued 1 dead letter as sequence {only}; the publisher delivers it when it runs."
                : "Nothing to requeue.";
}
