using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Cli.Commands;

namespace StoreForward.Cli;

/// <summary>The <c>storeforward</c> command line: its verbs, and how failures become exit codes.</summary>
internal static class StoreForwardCli
{
    public static int Run(string[] args, CliEnvironment environment, CancellationToken cancellationToken)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("storeforward");
            config.Settings.Console = environment.Out;
            config.Settings.CancellationExitCode = ExitCodes.Cancelled;
            config.Settings.Registrar.RegisterInstance(environment);
            config.SetExceptionHandler((exception, _) => exception switch
            {
                OperationCanceledException => ExitCodes.Cancelled,
                CommandAppException => environment.Fail(ExitCodes.Usage, exception.Message),
                _ => environment.Fail(ExitCodes.Failed, exception.ToString()),
            });

            config.AddCommand<ClientsCommand>("clients")
                .WithDescription("The outboxes in the store, one per ClientId (several when publishers of one process share a StorePath), with their counts.");
            config.AddCommand<StatsCommand>("stats")
                .WithDescription("Counts, bytes, the oldest message's age, and the topics with the most messages.")
                .WithExample("stats", "/var/lib/app/outbox.db", "--top", "20");
            config.AddCommand<PeekCommand>("peek")
                .WithDescription("The oldest messages, next to be delivered, with their payloads as text or hex.")
                .WithExample("peek", "outbox.db", "--count", "5", "--payload", "hex");
            config.AddCommand<DeadLettersCommand>("dead-letters")
                .WithDescription("The messages set aside instead of delivered, and why.");
            config.AddCommand<RequeueCommand>("requeue")
                .WithDescription("Moves dead letters back into the outbox, at its end, to be delivered again.")
                .WithExample("requeue", "outbox.db", "1042", "1043")
                .WithExample("requeue", "outbox.db", "--all");
            config.AddCommand<PurgeCommand>("purge")
                .WithDescription("Deletes dead letters for good.")
                .WithExample("purge", "outbox.db", "--all");
            config.AddCommand<ExportCommand>("export")
                .WithDescription("Writes every message (or dead letter) as one JSON object per line.")
                .WithExample("export", "outbox.db", "--jsonl", "--output", "backlog.jsonl");
            config.AddCommand<VerifyCommand>("verify")
                .WithDescription("Reads every message and checks the store's counters and records; exit code 1 when something is wrong.");
            config.AddCommand<SalvageCommand>("salvage")
                .WithDescription("Copies every readable message of a damaged or quarantined store into a new store, and reports what it could not read; the damaged files are never changed.")
                .WithExample("salvage", "outbox.quarantined-20260101T120000Z.db", "--into", "outbox.salvaged.db");
            config.AddCommand<CompactCommand>("compact")
                .WithDescription("Gives the space of delivered messages back to the file system (a copy swapped in with one rename).");
        });

        return app.Run(args, cancellationToken);
    }
}
