using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using MQTTnet.Protocol;
using Spectre.Console.Testing;
using StoreForward.Cli;
using StoreForward.Outbox;
using StoreForward.Tests.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary>Runs <c>storeforward</c> in-process against a store in the test's directory, with its output captured.</summary>
public abstract class CliTest : StoreTest
{
    /// <summary>The clock of every run: a day after the epoch, where the sample messages are stored.</summary>
    protected static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch.AddDays(1);

    protected sealed record Result(int ExitCode, string Out, string Error)
    {
        public JsonElement Json => JsonDocument.Parse(Out).RootElement;
    }

    protected static Result Run(params string[] args) => RunWith(args, interactive: false, CancellationToken.None);

    protected static Result RunWith(string[] args, bool interactive, CancellationToken cancellationToken)
    {
        var output = new TestConsole().Width(250);
        var error = new TestConsole().Width(250);
        if (interactive)
            error.Interactive();
        var code = StoreForwardCli.Run(args, new CliEnvironment(output, error, new FakeTimeProvider(Now)), cancellationToken);
        return new Result(code, output.Output, error.Output);
    }

    /// <summary>
    /// A store as a publisher leaves it: 8 messages on three topics (the first three sent, the QoS 2 one of them with its
    /// PUBREC recorded), a binary QoS 2 message with MQTT 5 properties, and two dead letters (sequences 1 and 2).
    /// </summary>
    private protected void CreateSampleStore()
    {
        using var store = OutboxStore.Open(StorePath);
        store.BeginBatch();
        for (var i = 0; i < 10; i++)
        {
            var topic = i < 5 ? "plant/line1/temp" : i < 8 ? "plant/line2/temp" : "plant/line3/pressure";
            store.Append(topic, Encoding.UTF8.GetBytes($"{{\"v\":{i}}}"), i == 4 ? MqttQualityOfServiceLevel.ExactlyOnce : MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch.AddSeconds(i));
        }

        store.Append(
            "plant/raw", [0x00, 0x01, 0xFE, 0xFF], MqttQualityOfServiceLevel.ExactlyOnce, true, DateTimeOffset.UnixEpoch.AddSeconds(10),
            properties: new MessageProperties("application/octet-stream", MqttPayloadFormatIndicator.Unspecified, null, [7, 7], []));
        store.CommitBatch();

        store.BeginBatch();
        foreach (var message in store.ReadAfter(0, 2))
            store.MoveToDeadLetters(message, message.ToDeadLetter(DeadLetterReason.RejectedByBroker, 0x87, "Not authorized"));
        store.MarkSentThrough(5);
        store.MarkReleased(5);
        store.CommitBatch();
    }
}
