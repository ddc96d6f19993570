using System.Text.Json;
using LiteDB;
using MQTTnet.Protocol;
using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary><c>verify</c> and <c>compact</c>, and how every verb treats a store it cannot use.</summary>
[Trait("Category", "Unit")]
public sealed class MaintenanceCommandTests : CliTest
{
    [Fact]
    public void Verify_finds_a_sound_store_sound()
    {
        CreateSampleStore();

        var result = Run("verify", StorePath, "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.True(result.Json.GetProperty("sound").GetBoolean());
        Assert.Equal(9, result.Json.GetProperty("messages").GetInt64());
        Assert.Empty(result.Json.GetProperty("problems").EnumerateArray());
    }

    [Fact]
    public void Verify_reports_counters_that_disagree_with_the_messages_and_records_that_belong_to_none()
    {
        CreateSampleStore();
        Tamper(meta =>
        {
            meta["count"] = 5;
            meta["dead"] = 7;
            meta["attempts"] = new BsonDocument { ["4242"] = 3 };
        });

        var result = Run("verify", StorePath);

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        Assert.Contains("counts 5 messages but holds 9", result.Out, StringComparison.Ordinal);
        Assert.Contains("counts 7 dead letters but holds 2", result.Out, StringComparison.Ordinal);
        Assert.Contains("1 recorded resend counts belong to no stored message", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_reports_a_message_that_is_also_a_dead_letter()
    {
        // Without its removed marks, the first segment holds again the two messages that left it as dead letters.
        CreateSampleStore();
        Tamper(meta =>
        {
            meta.Remove(MetaDocument.RemovedKey);
            meta.Remove(MetaDocument.RemovedKey + "From");
            meta["count"] = 11;
        });

        var result = Run("verify", StorePath, "--json");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        var problems = result.Json.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.Contains(problems, p => p.StartsWith("message 1: is also a dead letter", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("message 2: is also a dead letter", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.StartsWith("message 3:", StringComparison.Ordinal));
    }

    [Fact]
    public void Verify_reports_a_message_that_cannot_be_read_and_checks_the_rest()
    {
        CreateSampleStore();
        using (var db = new LiteDatabase(StorePath))
        {
            var segments = db.GetCollection("outbox");
            var segment = segments.FindAll().Single();
            segment["m"].AsArray[5]["q"] = "two";
            segment["m"].AsArray[6]["t"] = "";
            segments.Update(segment);
        }

        var result = Run("verify", StorePath, "--json");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        var problems = result.Json.GetProperty("problems").EnumerateArray().Select(p => p.GetString()).ToList();
        Assert.Contains(problems, p => p!.StartsWith("message 6: cannot be read", StringComparison.Ordinal));
        Assert.Contains(problems, p => p!.StartsWith("message 7: cannot be read (The topic must not be empty.", StringComparison.Ordinal));
        Assert.Contains(problems, p => p!.Contains("holds 7", StringComparison.Ordinal));
        var peek = Run("peek", StorePath, "--count", "20");
        Assert.Equal(ExitCodes.Ok, peek.ExitCode);
        Assert.Contains("{\"v\":9}", peek.Out, StringComparison.Ordinal);
        Assert.Contains("2 messages could not be read", peek.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Compact_gives_back_the_space_of_delivered_messages_and_keeps_every_other_one()
    {
        using (var store = OutboxStore.Open(StorePath))
        {
            for (var batch = 0; batch < 40; batch++)
                AppendBatch(store, 100, payloadBytes: 4096);
            store.BeginBatch();
            foreach (var message in store.ReadAfter(0, 3_990))
                store.Remove(message);
            store.CommitBatch();
        }

        var before = Snapshot();
        var sizeBefore = new FileInfo(StorePath).Length;
        File.WriteAllText(OutboxStore.CompactionPathOf(StorePath), "left by an interrupted compaction");

        var result = Run("compact", StorePath, "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(sizeBefore, result.Json.GetProperty("bytesBefore").GetInt64());
        var sizeAfter = new FileInfo(StorePath).Length;
        Assert.Equal(sizeAfter, result.Json.GetProperty("bytesAfter").GetInt64());
        Assert.True(sizeAfter * 10 < sizeBefore, $"{sizeBefore} -> {sizeAfter} bytes");
        Assert.False(File.Exists(OutboxStore.CompactionPathOf(StorePath)));
        Assert.False(File.Exists(OutboxStore.LogPathOf(OutboxStore.CompactionPathOf(StorePath))));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StorePath));
        Assert.Equal(before, Snapshot());
        Assert.Equal(ExitCodes.Ok, Run("verify", StorePath).ExitCode);

        // The compacted store goes on where the old one stopped: sequences never restart.
        using var compacted = OutboxStore.Open(StorePath);
        compacted.BeginBatch();
        var next = compacted.Append("t", [1], MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
        compacted.CommitBatch();
        Assert.Equal(4_001, next);
    }

    [Fact]
    public void A_store_held_by_a_running_publisher_is_refused_with_a_clear_error()
    {
        CreateSampleStore();
        using var held = OutboxStore.Open(StorePath);

        foreach (var verb in new[] { "stats", "peek", "dead-letters", "verify", "compact" })
        {
            var result = Run(verb, StorePath);

            Assert.Equal(ExitCodes.StoreInUse, result.ExitCode);
            Assert.Contains("held by a running publisher", result.Error, StringComparison.Ordinal);
            Assert.Empty(result.Out);
        }
    }

    [Fact]
    public void A_missing_store_is_an_error_and_is_not_created()
    {
        var result = Run("stats", StorePath);

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.Contains("There is no store at", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(StorePath));
    }

    [Fact]
    public void A_file_that_is_not_a_store_is_refused_by_name()
    {
        using (var db = new LiteDatabase(StorePath))
            db.GetCollection("customers").Insert(new BsonDocument { ["name"] = "x" });

        var result = Run("verify", StorePath);

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.Contains("not a StoreForward outbox", result.Error, StringComparison.Ordinal);
    }

    private OutboxSnapshot Snapshot()
    {
        using var store = OutboxStore.Open(StorePath);
        return store.Snapshot;
    }

    /// <summary>Changes the meta document behind the store's back, as a bug or a bad disk could.</summary>
    private void Tamper(Action<BsonDocument> change)
    {
        using var db = new LiteDatabase(StorePath);
        var meta = db.GetCollection("meta");
        var document = meta.FindById("outbox");
        change(document);
        meta.Update(document);
    }
}
