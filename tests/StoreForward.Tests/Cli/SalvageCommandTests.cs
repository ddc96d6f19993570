using System.Security.Cryptography;
using LiteDB;
using MQTTnet.Protocol;
using StoreForward.Cli;
using StoreForward.Outbox;

namespace StoreForward.Tests.Cli;

/// <summary>
/// <c>salvage</c>: every readable message of a damaged or quarantined store goes into a new store the app can use, with
/// its sequence and delivery marks; the damaged files are never changed; what could not be read is reported.
/// </summary>
[Trait("Category", "Unit")]
public sealed class SalvageCommandTests : CliTest
{
    private string IntoPath => Directory.File("salvaged.db");

    /// <summary>What a store holds, message by message, to compare a salvaged store with its original.</summary>
    private sealed record Stored(long Sequence, string Topic, string Payload, MqttQualityOfServiceLevel Qos, bool Retain, DateTimeOffset StoredAt, DateTimeOffset? ExpiresAt, string? ContentType, DeliveryState State);

    private static List<Stored> Contents(OutboxStore store) =>
        [.. store.ReadAll().Select(m => new Stored(m.Sequence, m.Topic, Convert.ToHexString(m.Payload), m.Qos, m.Retain, m.StoredAt, m.ExpiresAt, m.Properties?.ContentType, m.State))];

    private static List<Stored> Contents(string path, byte[]? key = null)
    {
        using var store = OutboxStore.Open(path, key);
        return Contents(store);
    }

    /// <summary>Hashes of a store's data file and log, to show that salvage never changed them.</summary>
    private static string Fingerprint(string path) =>
        Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)))
        + (File.Exists(OutboxStore.LogPathOf(path)) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(OutboxStore.LogPathOf(path)))) : "-");

    /// <summary>
    /// A store several pages long: 40 batches of 10 messages of 1,000 bytes (400 messages in 40 segments), the first 5
    /// sent, on a broker session.
    /// </summary>
    private void CreateLargeStore(byte[]? key = null)
    {
        using var store = OutboxStore.Open(StorePath, key);
        for (var batch = 0; batch < 40; batch++)
        {
            store.BeginBatch();
            for (var i = 0; i < 10; i++)
            {
                var payload = new byte[1000];
                payload[0] = (byte)batch;
                payload[1] = (byte)i;
                store.Append($"plant/line{batch % 3}", payload, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch.AddSeconds(batch), expiresAt: DateTimeOffset.UnixEpoch.AddDays(30));
            }

            store.CommitBatch();
        }

        store.BeginBatch();
        store.MarkSentThrough(5);
        store.MarkSessionEstablished("broker");
        store.CommitBatch();
    }

    /// <summary>Copies a file the store holds locked, through the store's own stream.</summary>
    private static void CopyOpenFile(Stream file, string destination)
    {
        using var copy = File.Create(destination);
        file.Position = 0;
        file.CopyTo(copy);
    }

    private static void AssertSubsetOf(List<Stored> original, List<Stored> salvaged)
    {
        var bySequence = original.ToDictionary(m => m.Sequence);
        Assert.All(salvaged, m => Assert.Equal(bySequence[m.Sequence] with { State = m.State }, m));
        Assert.Equal(salvaged.OrderBy(m => m.Sequence), salvaged);
    }

    [Fact]
    public void A_sound_store_is_copied_whole_with_its_sequences_marks_dead_letters_and_session()
    {
        CreateSampleStore();
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("broker-a:8883");
            store.CommitBatch();
        }

        var original = Contents(StorePath);
        var fingerprint = Fingerprint(StorePath);

        var result = Run("salvage", StorePath, "--into", IntoPath, "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.True(result.Json.GetProperty("complete").GetBoolean());
        Assert.True(result.Json.GetProperty("sessionKept").GetBoolean());
        Assert.Empty(result.Json.GetProperty("lost").EnumerateArray());
        Assert.Equal(fingerprint, Fingerprint(StorePath));
        Assert.False(System.IO.Directory.Exists(OutboxSalvage.WorkDirectoryOf(IntoPath)));
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Equal(original, Contents(salvaged));
        Assert.Contains(Contents(salvaged), m => m is { Sequence: 5, State: DeliveryState.Released });
        Assert.Equal([1L, 2L], salvaged.ReadAllDeadLetters().Select(l => l.Letter.Sequence));
        Assert.Equal("Not authorized", salvaged.ReadAllDeadLetters().First().Letter.Detail);
        Assert.Equal(11, salvaged.Snapshot.LastSequence);
        Assert.Equal(5, salvaged.SentThrough);
        Assert.Equal("broker-a:8883", salvaged.SessionServer);
        Assert.Equal([7, 7], salvaged.ReadAll().Last().Properties!.CorrelationData);
        Assert.Empty(salvaged.Verify());
    }

    [Fact]
    public void A_truncated_store_gives_up_the_pages_it_lost_and_the_rest_keeps_its_sequences()
    {
        CreateLargeStore();
        var original = Contents(StorePath);
        using (var file = new FileStream(StorePath, FileMode.Open))
            file.SetLength(file.Length / 2);
        var fingerprint = Fingerprint(StorePath);

        var result = Run("salvage", StorePath, "--into", IntoPath, "--json");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        Assert.Equal(fingerprint, Fingerprint(StorePath));
        Assert.Contains(result.Json.GetProperty("lost").EnumerateArray(), l => l.GetProperty("why").GetString()!.Contains("past the end of the data file", StringComparison.Ordinal));
        Assert.False(result.Json.GetProperty("sessionKept").GetBoolean());
        var salvaged = Contents(IntoPath);
        Assert.InRange(salvaged.Count, 1, original.Count - 1);
        Assert.Equal(salvaged.Count, result.Json.GetProperty("messages").GetInt64());
        AssertSubsetOf(original, salvaged);
        using var store = OutboxStore.Open(IntoPath);
        Assert.Null(store.SessionServer);
        Assert.True(store.Snapshot.LastSequence >= salvaged.Max(m => m.Sequence));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public void A_store_with_damaged_pages_gives_up_their_segments_and_names_the_pages()
    {
        CreateLargeStore();
        var original = Contents(StorePath);
        var bytes = File.ReadAllBytes(StorePath);
        var pages = bytes.Length / 8192;
        new Random(5).NextBytes(bytes.AsSpan(pages / 2 * 8192, 2 * 8192));
        File.WriteAllBytes(StorePath, bytes);

        var result = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        Assert.Contains("Could not be read", result.Out, StringComparison.Ordinal);
        Assert.Contains("of the data file", result.Out, StringComparison.Ordinal);
        Assert.Contains("overwritten or damaged", result.Out, StringComparison.Ordinal);
        var salvaged = Contents(IntoPath);
        Assert.InRange(salvaged.Count, 1, original.Count - 1);
        AssertSubsetOf(original, salvaged);
    }

    [Fact]
    public void A_damaged_record_becomes_a_dead_letter_named_in_the_report_and_the_session_is_kept()
    {
        CreateSampleStore();
        using (var db = new LiteDatabase(StorePath))
        {
            var segments = db.GetCollection("outbox");
            var segment = segments.FindAll().Single();
            segment["m"].AsArray[5]["q"] = "two";
            segments.Update(segment);
        }

        var result = Run("salvage", StorePath, "--into", IntoPath, "--json");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        var lost = Assert.Single(result.Json.GetProperty("lost").EnumerateArray());
        Assert.Equal("message 6", lost.GetProperty("what").GetString());
        Assert.True(result.Json.GetProperty("sessionKept").GetBoolean());
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Equal([3L, 4L, 5L, 7L, 8L, 9L, 10L, 11L], salvaged.ReadAll().Select(m => m.Sequence));
        Assert.Contains(salvaged.ReadAllDeadLetters(), l => l.Letter is { Sequence: 6, Reason: DeadLetterReason.Unreadable });
        Assert.StartsWith("dead letter 6: ", Assert.Single(salvaged.Verify()), StringComparison.Ordinal);
    }

    [Fact]
    public void A_quarantined_pair_is_read_with_the_commits_still_in_its_log()
    {
        // Copied while the store is open: the last commits are only in the log, as when an app crashed.
        CreateSampleStore();
        var aside = Directory.File("outbox.quarantined-19700102T000000Z.db");
        List<Stored> original;
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("broker");
            store.Append("plant/late", "in the log"u8, MqttQualityOfServiceLevel.ExactlyOnce, false, DateTimeOffset.UnixEpoch.AddHours(1));
            store.CommitBatch();
            original = Contents(store);
            CopyOpenFile(store.DataFile, aside);
            CopyOpenFile(store.LogFile, OutboxStore.LogPathOf(aside));
        }

        Assert.NotEqual(0, new FileInfo(OutboxStore.LogPathOf(aside)).Length);

        var result = Run("salvage", aside, "--into", IntoPath);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Contains("Everything was read", result.Out, StringComparison.Ordinal);
        Assert.Equal(12, Contents(IntoPath).Last().Sequence);

        // The app that quarantined it started a fresh store, which cleared the broker's session: it is not resumed, and
        // the PUBREC recorded in it (message 5) is forgotten, so message 5 is published anew.
        Assert.Contains("a fresh one", result.Out, StringComparison.Ordinal);
        Assert.Equal(original.Select(m => m.Sequence == 5 ? m with { State = DeliveryState.Published } : m), Contents(IntoPath));
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Null(salvaged.SessionServer);
    }

    [Fact]
    public void An_encrypted_store_is_salvaged_with_its_key_and_stays_encrypted()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var keyFile = Directory.File("store.key");
        File.WriteAllBytes(keyFile, key);
        CreateLargeStore(key);
        var original = Contents(StorePath, key);
        using (var file = new FileStream(StorePath, FileMode.Open))
            file.SetLength(file.Length * 3 / 4);

        var withoutKey = Run("salvage", StorePath, "--into", IntoPath);
        var result = Run("salvage", StorePath, "--into", IntoPath, "--key-file", keyFile);

        Assert.Equal(ExitCodes.StoreUnreadable, withoutKey.ExitCode);
        Assert.Contains("--key-file", withoutKey.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        Assert.Equal(OutboxStoreProblem.KeyMismatch, Assert.Throws<OutboxStoreException>(() => OutboxStore.Open(IntoPath)).Problem);
        var salvaged = Contents(IntoPath, key);
        Assert.NotEmpty(salvaged);
        AssertSubsetOf(original, salvaged);
    }

    [Fact]
    public void A_lost_header_starts_sequences_above_every_one_seen_and_a_fresh_broker_session()
    {
        CreateSampleStore();
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("broker");
            store.CommitBatch();
        }

        var original = Contents(StorePath);
        using (var db = new LiteDatabase(StorePath))
            db.GetCollection("meta").Delete("outbox");

        var result = Run("salvage", StorePath, "--into", IntoPath, "--json");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        Assert.False(result.Json.GetProperty("headerRead").GetBoolean());
        Assert.Contains("was lost", result.Json.GetProperty("headerProblem").GetString(), StringComparison.Ordinal);
        Assert.False(result.Json.GetProperty("sessionKept").GetBoolean());
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Null(salvaged.SessionServer);
        Assert.Equal(0, salvaged.SentThrough);
        Assert.Equal(11, salvaged.Snapshot.LastSequence);

        // Without the removed marks, the messages that left the first segment (1 and 2, now dead letters) are back.
        Assert.Equal(original.Select(m => m.Sequence).Prepend(2).Prepend(1), salvaged.ReadAll().Select(m => m.Sequence));
        Assert.All(Contents(salvaged), m => Assert.Equal(DeliveryState.Queued, m.State));
        Assert.Equal(2, salvaged.Snapshot.DeadLetters);
        Assert.Empty(salvaged.Verify());
    }

    [Fact]
    public async Task The_salvaged_store_starts_a_publisher_that_goes_on_from_the_next_sequence()
    {
        CreateLargeStore();
        using (var file = new FileStream(StorePath, FileMode.Open))
            file.SetLength(file.Length / 2);
        Assert.Equal(ExitCodes.ProblemsFound, Run("salvage", StorePath, "--into", IntoPath).ExitCode);
        var salvaged = Contents(IntoPath);
        long next;
        using (var store = OutboxStore.Open(IntoPath))
            next = store.Snapshot.LastSequence + 1;

        await using var publisher = await StoreForwardPublisher.StartAsync(TestOptions.Offline(IntoPath));

        Assert.Equal(salvaged.Count, publisher.Status.PendingMessages);
        var receipt = await publisher.PublishAsync("plant/after", new byte[1]);
        Assert.Equal(next, receipt.Sequence);
        Assert.True(receipt.Sequence > 400);
    }

    [Fact]
    public void A_file_with_nothing_of_a_store_writes_nothing_and_exits_4()
    {
        var bytes = new byte[64 * 1024];
        new Random(11).NextBytes(bytes);
        File.WriteAllBytes(StorePath, bytes);

        var result = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.Contains(StorePath, result.Error, StringComparison.Ordinal);
        Assert.Contains("not a LiteDB header", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(IntoPath));
        Assert.False(System.IO.Directory.Exists(OutboxSalvage.WorkDirectoryOf(IntoPath)));
    }

    [Fact]
    public void A_store_cut_to_its_header_page_has_nothing_readable_and_writes_nothing()
    {
        CreateLargeStore();
        using (var file = new FileStream(StorePath, FileMode.Open))
            file.SetLength(8192);

        var result = Run("salvage", StorePath, "--into", IntoPath, "--json");

        Assert.Equal(ExitCodes.StoreUnreadable, result.ExitCode);
        Assert.False(result.Json.GetProperty("written").GetBoolean());
        Assert.NotEmpty(result.Json.GetProperty("lost").EnumerateArray());
        Assert.False(File.Exists(IntoPath));
    }

    [Fact]
    public void An_existing_target_is_refused_by_name_unless_it_is_a_store_that_never_held_anything()
    {
        CreateSampleStore();
        File.Copy(StorePath, IntoPath);
        var before = Fingerprint(IntoPath);

        var used = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.Usage, used.ExitCode);
        Assert.Contains(IntoPath, used.Error, StringComparison.Ordinal);
        Assert.Equal(before, Fingerprint(IntoPath));

        File.Delete(IntoPath);
        File.WriteAllText(OutboxStore.LogPathOf(IntoPath), "a stray log");
        var strayLog = Run("salvage", StorePath, "--into", IntoPath);
        Assert.Equal(ExitCodes.Usage, strayLog.ExitCode);
        Assert.Contains(OutboxStore.LogPathOf(IntoPath), strayLog.Error, StringComparison.Ordinal);

        File.Delete(OutboxStore.LogPathOf(IntoPath));
        OutboxStore.Open(IntoPath).Dispose();
        var unused = Run("salvage", StorePath, "--into", IntoPath);
        Assert.Equal(ExitCodes.Ok, unused.ExitCode);
        Assert.Equal(Contents(StorePath), Contents(IntoPath));
    }

    [Fact]
    public void Fresh_session_drops_the_session_and_its_pubrecs_even_when_everything_was_read()
    {
        CreateSampleStore();
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("broker");
            store.CommitBatch();
        }

        var result = Run("salvage", StorePath, "--into", IntoPath, "--fresh-session", "--json");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.False(result.Json.GetProperty("sessionKept").GetBoolean());
        Assert.Equal(3, result.Json.GetProperty("publishedAnew").GetInt64());
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Null(salvaged.SessionServer);
        Assert.Equal(5, salvaged.SentThrough);
        Assert.DoesNotContain(Contents(salvaged), m => m.State == DeliveryState.Released);
    }

    [Fact]
    public void The_into_option_is_required()
    {
        CreateSampleStore();

        var result = Run("salvage", StorePath);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("--into", result.Error, StringComparison.Ordinal);
    }
}
