using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

internal sealed class SelectedDeadLettersSettings : StoreSettings
{
    [CommandArgument(1, "[SEQUENCES]")]
    [Description("The dead letters' sequences, as dead-letters lists them.")]
    public long[] Sequences { get; set; } = [];

    [CommandOption("--all")]
    [Description("Every dead letter (instead of sequences).")]
    public bool All { get; set; }

    public override ValidationResult Validate() =>
        All == (Sequences.Length > 0)
            ? ValidationResult.Error("Give the dead letters' sequences, or --all for every dead letter (not both).")
            : ValidationResult.Success();
}

/// <summary>What a change to the dead letters did, as <c>--json</c> writes it.</summary>
/// <param name="Changed">How many dead letters were requeued or purged.</param>
/// <param name="Sequences">The requeued messages' new sequences in the outbox, oldest first.</param>
/// <param name="NotDeadLetters">Given sequences that are not dead letters (skipped).</param>
internal sealed record DeadLetterChange(int Changed, IReadOnlyList<long>? Sequences, IReadOnlyList<long> NotDeadLetters);

/// <summary>
/// <c>requeue</c> and <c>purge</c>: a change to the selected dead letters in one commit, so that it happens whole or not
/// at all. Sequences that are not dead letters are named and make the exit code 1; the others are still changed.
/// </summary>
internal abstract class DeadLetterChangeCommand(CliEnvironment environment) : StoreCommand<SelectedDeadLettersSettings>(environment)
{
    private protected override int Run(OutboxStore store, SelectedDeadLettersSettings settings, CancellationToken cancellationToken)
    {
        List<long>? selection = settings.All ? null : [.. settings.Sequences.Distinct()];
        var unknown = selection is null ? [] : selection.Except(store.ReadAllDeadLetters().Select(l => l.Letter.Sequence)).Order().ToList();
        store.BeginBatch();
        DeadLetterChange change;
        try
        {
            var (changed, sequences) = Change(store, selection);
            change = new DeadLetterChange(changed, sequences, unknown);
            store.CommitBatch();
        }
        catch
        {
            store.RollbackBatch();
            throw;
        }

        if (settings.Json)
        {
            CliJson.Write(Environment, change);
        }
        else
        {
            Environment.Out.WriteLine(Describe(change));
            if (unknown.Count > 0)
                Environment.Error.MarkupLine($"[yellow]Not dead letters, skipped:[/] {string.Join(", ", unknown)}");
        }

        return unknown.Count > 0 ? ExitCodes.ProblemsFound : ExitCodes.Ok;
    }

    /// <summary>Changes the dead letters (all when <paramref name="selection"/> is null) inside the open batch.</summary>
    private protected abstract (int Changed, IReadOnlyList<long>? Sequences) Change(OutboxStore store, IReadOnlyCollection<long>? selection);

    private protected abstract string Describe(DeadLetterChange change);
}
