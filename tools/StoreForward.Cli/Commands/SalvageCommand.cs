using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

internal sealed class SalvageSettings : StoreSettings
{
    [CommandOption("--into <NEW_STORE>")]
    [Description("Where to write the new store with every readable message. It must not exist, or be a store that never held a message or a dead letter nor started a broker session (it is replaced).")]
    public string? Into { get; set; }

    [CommandOption("--fresh-session")]
    [Description("Starts a fresh broker session even when everything was read: another store has connected with the same ClientId since. Always so for a quarantined store.")]
    public bool FreshSession { get; set; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Into) ? ValidationResult.Error("Give the new store's path: --into NEW_STORE.") : ValidationResult.Success();
}

/// <summary>What <c>salvage --json</c> writes.</summary>
internal sealed record Salvage(
    string Damaged,
    string Into,
    bool Written,
    bool Complete,
    bool HeaderRead,
    string? HeaderProblem,
    long Messages,
    long DeadLetters,
    long UnreadableMessages,
    long UnreadableDeadLetters,
    long? CountedMessages,
    long? CountedDeadLetters,
    long NextSequence,
    long SentThrough,
    SalvagedSession Session,
    bool SessionKept,
    long PublishedAnew,
    IReadOnlyList<SalvageLoss> Lost);

/// <summary>
/// <c>salvage</c>: copies every readable message, dead letter and delivery mark of a damaged or quarantined store into a
/// new store (see <see cref="OutboxSalvage"/>), never changing the damaged files, and reports what it could not read.
/// Exit code 0 when everything was read, 1 when something was lost, 4 when nothing could be read (no store is written),
/// 2 when the new store's path cannot take it (nothing is written there).
/// </summary>
internal sealed class SalvageCommand(CliEnvironment environment) : Command<SalvageSettings>
{
    public override int Execute(CommandContext context, SalvageSettings settings, CancellationToken cancellationToken)
    {
        var damaged = Path.GetFullPath(settings.Path);
        var into = Path.GetFullPath(settings.Into!);
        return StoreFailures.RunOnExistingStore(environment, damaged, settings.KeyFile, key =>
        {
            // The new store's path is the operator's choice: a path that cannot take it is a usage error.
            if (OutboxSalvage.TargetProblem(into, key, settings.AllowWorldWritableDirectory) is { } problem)
                return environment.Fail(ExitCodes.Usage, problem);
            using var salvage = OutboxSalvage.Read(damaged, into, key, settings.FreshSession, settings.AllowWorldWritableDirectory);
            var report = salvage.Report;
            if (!report.NothingRead)
            {
                string? targetProblem;
                try
                {
                    targetProblem = CliProgress.Run(environment, "Writing the new store", salvage.SegmentCount, progress => salvage.WriteTo(into, key, settings.AllowWorldWritableDirectory, progress), cancellationToken);
                }
                catch (IOException e) when (e is not OutboxStoreException)
                {
                    return environment.Fail(ExitCodes.Failed, $"Writing the new store '{into}' failed (for example a full disk); nothing was written there, and '{damaged}' is unchanged. {e.Message}");
                }

                // Something was put at the new store's path while the copy was written: still the operator's choice.
                if (targetProblem is not null)
                    return environment.Fail(ExitCodes.Usage, targetProblem);
            }

            var result = Describe(report, into);
            if (settings.Json)
                CliJson.Write(environment, result);
            else
                Show(result);
            return report.Complete ? ExitCodes.Ok : report.NothingRead ? ExitCodes.StoreUnreadable : ExitCodes.ProblemsFound;
        });
    }

    private static Salvage Describe(SalvageReport report, string into)
    {
        var content = report.Content;
        return new Salvage(
            report.DamagedPath,
            into,
            !report.NothingRead,
            report.Complete,
            report.HeaderProblem is null,
            report.HeaderProblem,
            content.Messages,
            content.DeadLetters,
            content.UnreadableMessages,
            content.UnreadableDeadLetters,
            content.CountedMessages,
            content.CountedDeadLetters,
            content.NextSequence,
            content.SentThrough,
            content.Session,
            content.SessionKept,
            content.PublishedAnew,
            report.Losses);
    }

    private void Show(Salvage result)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumns("", "");
        void Row(string name, string value) => table.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value));
        Row("Damaged store", $"{result.Damaged} (not changed)");
        Row("New store", result.Written ? result.Into : "not written: nothing could be read");
        Row("Header", result.HeaderProblem ?? "read");
        Row("Messages", $"{Format.Count(result.Messages)} read" + (result.CountedMessages is { } counted ? $" of {Format.Count(counted)} the header counts" : ""));
        Row("Dead letters", $"{Format.Count(result.DeadLetters)} read" + (result.CountedDeadLetters is { } countedDead ? $" of {Format.Count(countedDead)} the header counts" : ""));
        if (result.UnreadableMessages + result.UnreadableDeadLetters > 0)
            Row("Unreadable records", $"{Format.Count(result.UnreadableMessages + result.UnreadableDeadLetters)}, kept as dead letters (storeforward dead-letters shows why)");
        Row("Sequences", $"next {Format.Count(result.NextSequence)}, sent through {Format.Count(result.SentThrough)}");
        Row("Broker session", result.Session switch
        {
            SalvagedSession.Kept => "kept: the app resumes it as the damaged store would have",
            SalvagedSession.None => "none: the damaged store recorded none, so there is none to keep; the app starts one as the damaged store would have",
            _ => $"a fresh one: the app clears the broker's session for its ClientId first; {Format.Count(result.PublishedAnew, "message")} that may have been in flight {(result.PublishedAnew == 1 ? "is" : "are")} published anew (a QoS 2 one may arrive twice)",
        });
        environment.Out.Write(table);

        if (result.Complete)
            environment.Out.MarkupLine("[green]Everything was read.[/]");
        if (result.Lost.Count == 0)
            return;

        var lost = new Table().Border(TableBorder.Rounded).Title("Could not be read").AddColumn("What").AddColumn("Why");
        foreach (var loss in result.Lost)
            lost.AddRow(new Text(loss.What), new Text(loss.Why));
        environment.Out.Write(lost);
    }
}
