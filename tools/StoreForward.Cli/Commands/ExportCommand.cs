using System.ComponentModel;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

internal sealed class ExportSettings : StoreSettings
{
    [CommandOption("--jsonl")]
    [Description("JSON Lines: one JSON object per message, oldest first (the only format so far, and required so that a later default cannot surprise a script).")]
    public bool Jsonl { get; set; }

    [CommandOption("-o|--output <FILE>")]
    [Description("The file to write (created owner-only, as it holds payloads); standard output when not given.")]
    public string? Output { get; set; }

    [CommandOption("--force")]
    [Description("Overwrites the output file when it exists.")]
    public bool Force { get; set; }

    [CommandOption("--dead-letters")]
    [Description("Exports the dead letters, with their reasons, instead of the outbox.")]
    public bool DeadLetters { get; set; }

    // Without --output the records are the standard output; a JSON summary there would break the lines scripts read.
    public override ValidationResult Validate() =>
        !Jsonl ? ValidationResult.Error("Choose the export format: --jsonl (one JSON object per line).")
        : Output is not null && File.Exists(Output) && !Force ? ValidationResult.Error($"'{Output}' exists; give --force to overwrite it.")
        : Json && Output is null ? ValidationResult.Error("--json writes the export's summary as JSON on standard output, where the records go without --output; give --output FILE.")
        : ValidationResult.Success();
}

/// <summary>What <c>export --output FILE --json</c> writes: where the records went, and how many could not be read.</summary>
/// <param name="Output">The file written.</param>
/// <param name="Records">Messages or dead letters written, one per line.</param>
/// <param name="DeadLetters">Whether the records are the dead letters.</param>
/// <param name="Unreadable">Messages left out because they cannot be read (<c>verify</c> lists them).</param>
internal sealed record Export(string Output, long Records, bool DeadLetters, long Unreadable);

/// <summary>
/// <c>export --jsonl</c>: every message as a line of JSON (see <see cref="MessageJson"/>), for backups, audits and
/// replays with other tools. A file that is not written to the end is deleted, so a file that exists is complete.
/// </summary>
internal sealed class ExportCommand(CliEnvironment environment) : StoreCommand<ExportSettings>(environment)
{
    private protected override int Run(OutboxStore store, ExportSettings settings, CancellationToken cancellationToken)
    {
        var (what, total, records) = settings.DeadLetters
            ? ("dead letters", store.Snapshot.DeadLetters, store.ReadAllDeadLetters().Select(l => MessageJson.Of(l.Message, l.Letter)))
            : ("messages", store.Snapshot.PendingMessages, store.ReadAll().Select(m => MessageJson.Of(m)));
        if (settings.Output is null)
        {
            var written = Write(records, Environment.Out.Profile.Out.Writer, total, cancellationToken);
            Environment.Error.WriteLine($"Exported {Format.Count(written)} {what}.");
            WarnOfUnreadable(store);
            return ExitCodes.Ok;
        }

        var path = Path.GetFullPath(settings.Output);
        var options = new FileStreamOptions { Mode = settings.Force ? FileMode.Create : FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            long count;
            using (var file = new StreamWriter(path, System.Text.Encoding.UTF8, options))
            {
                count = Write(records, file, total, cancellationToken);
            }

            if (settings.Json)
            {
                CliJson.Write(Environment, new Export(path, count, settings.DeadLetters, store.UnreadableSkipped));
            }
            else
            {
                Environment.Out.WriteLine($"Exported {Format.Count(count)} {what} to {path}.");
                WarnOfUnreadable(store);
            }

            return ExitCodes.Ok;
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    private long Write(IEnumerable<MessageJson> records, TextWriter writer, long total, CancellationToken cancellationToken) =>
        CliProgress.Run(Environment, "Exporting", total, progress =>
        {
            var count = 0;
            foreach (var record in records)
            {
                writer.WriteLine(JsonSerializer.Serialize(record, CliJson.Lines));
                progress.Report(++count);
            }

            writer.Flush();
            return (long)count;
        }, cancellationToken);
}
