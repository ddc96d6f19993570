using Spectre.Console;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

/// <summary>What <c>verify --json</c> writes.</summary>
internal sealed record Verification(bool Sound, long Messages, long DeadLetters, int Segments, IReadOnlyList<string> Problems);

/// <summary>
/// <c>verify</c>: opening the store checks its header and length; this reads every message and dead letter as well and
/// checks them against the counters and records (see <see cref="OutboxStore.Verify"/>). Exit code 1 when anything is off.
/// </summary>
internal sealed class VerifyCommand(CliEnvironment environment) : StoreCommand<StoreSettings>(environment)
{
    private protected override int Run(OutboxStore store, StoreSettings settings, CancellationToken cancellationToken)
    {
        var segments = store.SegmentCount;
        var problems = CliProgress.Run(Environment, "Checking", segments, store.Verify, cancellationToken);
        var result = new Verification(problems.Count == 0, store.Snapshot.PendingMessages, store.Snapshot.DeadLetters, segments, problems);
        if (settings.Json)
        {
            CliJson.Write(Environment, result);
        }
        else if (result.Sound)
        {
            Environment.Out.MarkupLine($"[green]The store is sound:[/] {Format.Count(result.Messages, "message")} in {Format.Count(segments, "segment")}, {Format.Count(result.DeadLetters, "dead letter")}.");
        }
        else
        {
            Environment.Out.MarkupLine($"[red]The store has {Format.Count(problems.Count, "problem")}:[/]");
            foreach (var problem in problems)
                Environment.Out.WriteLine($"  - {problem}");
        }

        return result.Sound ? ExitCodes.Ok : ExitCodes.ProblemsFound;
    }
}
