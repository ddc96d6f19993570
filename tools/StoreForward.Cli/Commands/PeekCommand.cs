using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

internal sealed class PeekSettings : StoreSettings
{
    [CommandOption("-n|--count <N>")]
    [Description("How many messages to show, oldest first.")]
    [DefaultValue(10)]
    public int Count { get; set; } = 10;

    [CommandOption("--payload <MODE>")]
    [Description("auto (text when printable UTF-8, else hex), text or hex. JSON always has the payload in base64.")]
    [DefaultValue(PayloadDisplay.Auto)]
    public PayloadDisplay Payload { get; set; } = PayloadDisplay.Auto;

    [CommandOption("--width <CHARS>")]
    [Description("Payloads longer than this are cut in the table.")]
    [DefaultValue(60)]
    public int Width { get; set; } = 60;

    public override ValidationResult Validate() =>
        Count < 1 ? ValidationResult.Error($"--count must be 1 or more, not {Count}.")
        : Width < 8 ? ValidationResult.Error($"--width must be 8 or more, not {Width}.")
        : ValidationResult.Success();
}

/// <summary><c>peek</c>: the messages the publisher delivers next, without changing anything.</summary>
internal sealed class PeekCommand(CliEnvironment environment) : StoreCommand<PeekSettings>(environment)
{
    private protected override int Run(OutboxStore store, PeekSettings settings, CancellationToken cancellationToken)
    {
        var messages = store.ReadAll().Take(settings.Count).ToList();
        WarnOfUnreadable(store);
        if (settings.Json)
        {
            CliJson.Write(Environment, messages.Select(m => MessageJson.Of(m)));
            return ExitCodes.Ok;
        }

        if (messages.Count == 0)
        {
            Environment.Out.WriteLine("The outbox is empty.");
            return ExitCodes.Ok;
        }

        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn(new TableColumn("Sequence").RightAligned()).AddColumn("Stored").AddColumn("State").AddColumn("Topic")
            .AddColumn("QoS").AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn("Payload");
        foreach (var message in messages)
        {
            table.AddRow(
                new Text(message.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(Format.Time(message.StoredAt)),
                new Text(StateName(message)),
                new Text(message.Topic),
                new Text(((int)message.Qos).ToString(System.Globalization.CultureInfo.InvariantCulture) + (message.Retain ? " retain" : "")),
                new Text(Format.Count(message.Payload.Length)),
                new Text(PayloadText.Render(message.Payload, settings.Payload, settings.Width)));
        }

        Environment.Out.Write(table);
        if (store.Snapshot.PendingMessages > messages.Count)
            Environment.Out.WriteLine($"{Format.Count(store.Snapshot.PendingMessages - messages.Count)} more.");
        return ExitCodes.Ok;
    }

    private static string StateName(OutboxMessage message) => message.Mark switch
    {
        StoredMark.Sent => "in flight",
        StoredMark.PubrecRecorded => "PUBREC'd",
        _ => "queued",
    };
}
