using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

internal sealed class DeadLettersSettings : StoreSettings
{
    [CommandOption("-n|--count <N>")]
    [Description("How many dead letters to show, oldest first.")]
    [DefaultValue(50)]
    public int Count { get; set; } = 50;

    public override ValidationResult Validate() =>
        Count < 1 ? ValidationResult.Error($"--count must be 1 or more, not {Count}.") : ValidationResult.Success();
}

/// <summary><c>dead-letters</c>: the messages set aside, with the broker's reason.</summary>
internal sealed class DeadLettersCommand(CliEnvironment environment) : StoreCommand<DeadLettersSettings>(environment)
{
    private protected override int Run(OutboxStore store, DeadLettersSettings settings, CancellationToken cancellationToken)
    {
        var letters = store.ReadAllDeadLetters().Take(settings.Count).ToList();
        if (settings.Json)
        {
            CliJson.Write(Environment, letters.Select(l => MessageJson.Of(l.Message, l.Letter)));
            return ExitCodes.Ok;
        }

        if (letters.Count == 0)
        {
            Environment.Out.WriteLine("There are no dead letters.");
            return ExitCodes.Ok;
        }

        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn(new TableColumn("Sequence").RightAligned()).AddColumn("Stored").AddColumn("Topic").AddColumn("QoS")
            .AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Reason").AddColumn("Detail");
        foreach (var (message, letter) in letters)
        {
            table.AddRow(
                new Text(letter.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(Format.Time(letter.StoredAt)),
                new Text(letter.Topic),
                new Text(((int)letter.Qos).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(Format.Count(message.Payload.Length)),
                new Text(letter.ReasonCode is { } code ? $"{letter.Reason} (0x{code:X2})" : letter.Reason.ToString()),
                new Text(letter.Detail));
        }

        Environment.Out.Write(table);
        if (store.Snapshot.DeadLetters > letters.Count)
            Environment.Out.WriteLine($"{Format.Count(store.Snapshot.DeadLetters - letters.Count)} more.");
        return ExitCodes.Ok;
    }
}
