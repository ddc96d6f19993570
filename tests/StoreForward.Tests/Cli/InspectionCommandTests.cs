using System.Text;
using System.Text.Json;
using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary><c>stats</c>, <c>peek</c>, <c>dead-letters</c> and <c>export</c>: what they report of a store.</summary>
[Trait("Category", "Unit")]
public sealed class InspectionCommandTests : CliTest
{
    [Fact]
    public void Stats_counts_the_store_by_state_qos_and_topic()
    {
        CreateSampleStore();

        var result = Run("stats", StorePath, "--json", "--top", "2");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        var stats = result.Json;
        Assert.Equal(9, stats.GetProperty("messages").GetInt64());
        Assert.Equal(6, stats.GetProperty("queued").GetInt64());
        Assert.Equal(3, stats.GetProperty("inFlight").GetInt64());
        Assert.Equal(1, stats.GetProperty("released").GetInt64());
        Assert.Equal(7, stats.GetProperty("byQos").GetProperty("atLeastOnce").GetInt64());
        Assert.Equal(2, stats.GetProperty("byQos").GetProperty("exactlyOnce").GetInt64());
        Assert.Equal(2, stats.GetProperty("deadLetters").GetInt64());
        Assert.Equal(DateTimeOffset.UnixEpoch.AddSeconds(2), stats.GetProperty("oldestStoredAt").GetDateTimeOffset());
        Assert.Equal(TimeSpan.FromDays(1) - TimeSpan.FromSeconds(2), TimeSpan.Parse(stats.GetProperty("oldestAge").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        var topics = stats.GetProperty("topTopics").EnumerateArray().Select(t => (t.GetProperty("topic").GetString(), t.GetProperty("messages").GetInt64())).ToList();
        Assert.Equal([("plant/line1/temp", 3L), ("plant/line2/temp", 3L)], topics);
    }

    [Fact]
    public void Stats_names_the_broker_the_session_is_with_when_several_servers_keep_their_own()
    {
        CreateSampleStore();
        Assert.False(Run("stats", StorePath, "--json").Json.GetProperty("sessionEstablished").GetBoolean());
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("broker-b.plant:8883");
            store.CommitBatch();
        }

        var stats = Run("stats", StorePath, "--json").Json;
        Assert.True(stats.GetProperty("sessionEstablished").GetBoolean());
        Assert.Equal("broker-b.plant:8883", stats.GetProperty("sessionServer").GetString());
        Assert.Contains("with broker-b.plant:8883", Run("stats", StorePath).Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Stats_shows_tables_with_the_topics()
    {
        CreateSampleStore();

        var result = Run("stats", StorePath);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Contains("plant/line3/pressure", result.Out, StringComparison.Ordinal);
        Assert.Contains("23h 59m", result.Out, StringComparison.Ordinal);
        Assert.Contains("0: 0, 1: 7, 2: 2", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Peek_shows_the_oldest_messages_with_text_or_hex_payloads()
    {
        CreateSampleStore();

        var first = Run("peek", StorePath, "--count", "2");
        var raw = Run("peek", StorePath, "--count", "20");
        var hex = Run("peek", StorePath, "--count", "1", "--payload", "hex");

        Assert.Equal(ExitCodes.Ok, first.ExitCode);
        Assert.Contains("{\"v\":2}", first.Out, StringComparison.Ordinal);
        Assert.Contains("{\"v\":3}", first.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("{\"v\":4}", first.Out, StringComparison.Ordinal);
        Assert.Contains("7 more.", first.Out, StringComparison.Ordinal);
        Assert.Contains("0001FEFF", raw.Out, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexString(Encoding.UTF8.GetBytes("{\"v\":2}")), hex.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Peek_json_has_the_full_payload_state_and_properties()
    {
        CreateSampleStore();

        var messages = Run("peek", StorePath, "--count", "20", "--json").Json.EnumerateArray().ToList();

        Assert.Equal(Enumerable.Range(3, 9).Select(s => (long)s), messages.Select(m => m.GetProperty("sequence").GetInt64()));
        Assert.Equal(["published", "published", "released", "queued"], messages.Take(4).Select(m => m.GetProperty("state").GetString()));
        var binary = messages[^1];
        Assert.Equal([0x00, 0x01, 0xFE, 0xFF], binary.GetProperty("payload").GetBytesFromBase64());
        Assert.False(binary.TryGetProperty("payloadText", out _));
        Assert.True(binary.GetProperty("retain").GetBoolean());
        Assert.Equal("application/octet-stream", binary.GetProperty("contentType").GetString());
        Assert.Equal([7, 7], binary.GetProperty("correlationData").GetBytesFromBase64());
        Assert.Equal("{\"v\":2}", messages[0].GetProperty("payloadText").GetString());
    }

    [Fact]
    public void Dead_letters_lists_them_with_the_broker_reason()
    {
        CreateSampleStore();

        var table = Run("dead-letters", StorePath);
        var json = Run("dead-letters", StorePath, "--json").Json.EnumerateArray().ToList();

        Assert.Equal(ExitCodes.Ok, table.ExitCode);
        Assert.Contains("RejectedByBroker (0x87)", table.Out, StringComparison.Ordinal);
        Assert.Contains("Not authorized", table.Out, StringComparison.Ordinal);
        Assert.Equal([1L, 2L], json.Select(l => l.GetProperty("sequence").GetInt64()));
        Assert.All(json, l => Assert.Equal("rejectedByBroker", l.GetProperty("reason").GetString()));
        Assert.All(json, l => Assert.Equal(0x87, l.GetProperty("reasonCode").GetInt32()));
    }

    [Fact]
    public void Export_writes_every_message_as_a_json_line_to_an_owner_only_file()
    {
        CreateSampleStore();
        var output = Directory.File("backlog.jsonl");

        var result = Run("export", StorePath, "--jsonl", "--output", output);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        var lines = File.ReadAllLines(output);
        Assert.Equal(9, lines.Length);
        using var store = OutboxStore.Open(StorePath);
        var stored = store.ReadAll().ToList();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal(stored[i].Sequence, line.GetProperty("sequence").GetInt64());
            Assert.Equal(stored[i].Topic, line.GetProperty("topic").GetString());
            Assert.Equal(stored[i].Payload, line.GetProperty("payload").GetBytesFromBase64());
        }

        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(output));
    }

    [Fact]
    public void Export_writes_dead_letters_to_standard_output_and_the_count_to_standard_error()
    {
        CreateSampleStore();

        var result = RunWith(["export", StorePath, "--jsonl", "--dead-letters"], interactive: true, CancellationToken.None);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Equal("Not authorized", JsonDocument.Parse(l).RootElement.GetProperty("detail").GetString()));
        Assert.Contains("Exported 2 dead letters", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Export_needs_a_format_and_never_overwrites_unasked()
    {
        CreateSampleStore();
        var output = Directory.File("existing.jsonl");
        File.WriteAllText(output, "keep");

        var noFormat = Run("export", StorePath);
        var exists = Run("export", StorePath, "--jsonl", "-o", output);
        var forced = Run("export", StorePath, "--jsonl", "-o", output, "--force");

        Assert.Equal(ExitCodes.Usage, noFormat.ExitCode);
        Assert.Contains("--jsonl", noFormat.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, exists.ExitCode);
        Assert.Contains("--force", exists.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Ok, forced.ExitCode);
        Assert.Equal(9, File.ReadAllLines(output).Length);
    }

    [Fact]
    public void Export_json_writes_the_summary_as_json_and_needs_an_output_file()
    {
        CreateSampleStore();
        var output = Directory.File("dead.jsonl");

        var result = Run("export", StorePath, "--jsonl", "--dead-letters", "-o", output, "--json");
        var toStandardOutput = Run("export", StorePath, "--jsonl", "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(output, result.Json.GetProperty("output").GetString());
        Assert.Equal(2, result.Json.GetProperty("records").GetInt64());
        Assert.True(result.Json.GetProperty("deadLetters").GetBoolean());
        Assert.Equal(0, result.Json.GetProperty("unreadable").GetInt64());
        Assert.Equal(2, File.ReadAllLines(output).Length);
        Assert.Equal(ExitCodes.Usage, toStandardOutput.ExitCode);
        Assert.Contains("--output", toStandardOutput.Error, StringComparison.Ordinal);
        Assert.Empty(toStandardOutput.Out);
    }

    [Fact]
    public void A_cancelled_export_leaves_no_file()
    {
        CreateSampleStore();
        var output = Directory.File("cancelled.jsonl");

        var result = RunWith(["export", StorePath, "--jsonl", "-o", output], interactive: false, new CancellationToken(canceled: true));

        Assert.Equal(ExitCodes.Cancelled, result.ExitCode);
        Assert.False(File.Exists(output));
    }
}
