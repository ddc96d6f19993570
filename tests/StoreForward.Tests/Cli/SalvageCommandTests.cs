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
    private sealed record Stored(long Sequence, string Topic, string Payload, MqttQualityOfServiceLevel Qos, bool Retain, DateTimeOffset StoredAt, DateTimeOffset? ExpiresAt, string? ContentType, StoredMark Mark);

    private static List<Stored> Contents(OutboxStore store) =>
        [.. store.ReadAll().Select(m => new Stored(m.Sequence, m.Topic, Convert.ToHexString(m.Payload), m.Qos, m.Retain, m.StoredAt, m.ExpiresAt, m.Properties?.ContentType, m.Mark))];

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
        Assert.All(salvaged, m => Assert.Equal(bySequence[m.Sequence] with { Mark = m.Mark }, m));
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
        Assert.Contains(Contents(salvaged), m => m is { Sequence: 5, Mark: StoredMark.PubrecRecorded });
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

    /// <summary>
    /// Sent through 5, with the PUBREC of 5 recorded: an unreadable message at or below the sent mark may be one the broker
    /// holds in flight, which will never be sent again, so the session is not resumed; one above it was never sent.
    /// </summary>
    [Theory]
    [InlineData(6, true)]
    [InlineData(4, false)]
    public void A_damaged_record_becomes_a_dead_letter_named_in_the_report_and_the_session_is_kept_only_if_it_was_never_sent(long damaged, bool sessionKept)
    {
        CreateSampleStore();
        using (var store = OutboxStore.Open(StorePath))
        {
            store.BeginBatch();
            store.MarkSessionEstablished("broker");
            store.CommitBatch();
        }

        using (var db = new LiteDatabase(StorePath))
        {
            var segments = db.GetCollection("outbox");
            var segment = segments.FindAll().Single();
            segment["m"].AsArray[(int)damaged - 1]["q"] = "two";
            segments.Update(segment);
        }

        var result = Run("salvage", StorePath, "--into", IntoPath, "--json");

        Assert.Equal(ExitCodes.ProblemsFound, result.ExitCode);
        var lost = Assert.Single(result.Json.GetProperty("lost").EnumerateArray());
        Assert.Equal($"message {damaged}", lost.GetProperty("what").GetString());
        Assert.Equal(sessionKept, result.Json.GetProperty("sessionKept").GetBoolean());
        Assert.Equal(sessionKept ? "kept" : "fresh", result.Json.GetProperty("session").GetString());

        // Fresh: the other two sent messages, 3 and 5, are published anew, 5 without its PUBREC.
        Assert.Equal(sessionKept ? 0 : 2, result.Json.GetProperty("publishedAnew").GetInt64());
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Equal(sessionKept ? "broker" : null, salvaged.SessionServer);
        Assert.Equal(sessionKept ? StoredMark.PubrecRecorded : StoredMark.Sent, salvaged.ReadAll().Single(m => m.Sequence == 5).Mark);
        Assert.Equal(new long[] { 3, 4, 5, 6, 7, 8, 9, 10, 11 }.Where(s => s != damaged), salvaged.ReadAll().Select(m => m.Sequence));
        Assert.Contains(salvaged.ReadAllDeadLetters(), l => l.Letter.Sequence == damaged && l.Letter.Reason == DeadLetterReason.Unreadable);
        Assert.StartsWith($"dead letter {damaged}: ", Assert.Single(salvaged.Verify()), StringComparison.Ordinal);
    }

    [Fact]
    public void A_store_that_never_started_a_broker_session_reports_none_to_keep()
    {
        CreateSampleStore();

        var json = Run("salvage", StorePath, "--into", IntoPath, "--json");
        File.Delete(IntoPath);
        var table = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.Ok, json.ExitCode);
        Assert.False(json.Json.GetProperty("sessionKept").GetBoolean());
        Assert.Equal("none", json.Json.GetProperty("session").GetString());
        Assert.Equal(ExitCodes.Ok, table.ExitCode);
        Assert.Contains("none: the damaged store recorded none", table.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("kept", table.Out, StringComparison.Ordinal);
        using var salvaged = OutboxStore.Open(IntoPath);
        Assert.Null(salvaged.SessionServer);
        Assert.Equal(Contents(StorePath), Contents(salvaged));
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
        Assert.Equal(original.Select(m => m.Sequence == 5 ? m with { Mark = StoredMark.Sent } : m), Contents(IntoPath));
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
    public void A_lost_header_starts_sequences_above_every_one_seen_and_a_fresh_broker_session_and_keeps_dead_letters_out_of_the_queue()
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

        // The removed marks of the first segment were lost with the header; 1 and 2, which left it as dead letters, stay
        // dead letters and do not come back as messages to publish.
        Assert.Equal(original.Select(m => m.Sequence), salvaged.ReadAll().Select(m => m.Sequence));
        Assert.Equal(original.Count, result.Json.GetProperty("messages").GetInt64());
        Assert.Equal(original.Count, salvaged.Snapshot.PendingMessages);
        Assert.All(Contents(salvaged), m => Assert.Equal(StoredMark.Unsent, m.Mark));
        Assert.Equal([1L, 2L], salvaged.ReadAllDeadLetters().Select(l => l.Letter.Sequence));
        Assert.Equal(2, salvaged.Snapshot.DeadLetters);
        Assert.Empty(salvaged.Verify());

        // A message refused again is set aside as any other.
        salvaged.BeginBatch();
        var refused = salvaged.ReadAfter(0, 1).Single();
        salvaged.MoveToDeadLetters(refused, refused.ToDeadLetter(DeadLetterReason.RejectedByBroker, 0x87, "Not authorized"));
        salvaged.CommitBatch();
        Assert.Equal([1L, 2L, 3L], salvaged.ReadAllDeadLetters().Select(l => l.Letter.Sequence));
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
    public void An_into_path_that_holds_another_file_is_refused_by_name_and_left_as_it_is()
    {
        CreateSampleStore();
        File.WriteAllText(IntoPath, "notes an operator keeps here\n");
        var before = File.ReadAllBytes(IntoPath);

        var result = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains(IntoPath, result.Error, StringComparison.Ordinal);
        Assert.Contains("not an empty store", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(OutboxStore.LogPathOf(IntoPath)));
        Assert.False(System.IO.Directory.Exists(OutboxSalvage.WorkDirectoryOf(IntoPath)));

        // Holds once opening a store refuses a file that is not a LiteDB database without writing to it.
        Assert.Equal(before, File.ReadAllBytes(IntoPath));
    }

    [Fact]
    public void A_file_put_at_the_into_path_while_the_copy_is_written_is_refused_by_name_and_left_as_it_is()
    {
        CreateSampleStore();
        using var salvage = OutboxSalvage.Read(StorePath, IntoPath, null, freshSession: false, allowWorldWritableDirectory: false);
        Assert.True(File.Exists(Path.Combine(OutboxSalvage.WorkDirectoryOf(IntoPath), OutboxSalvage.WorkMarker)));
        using (var other = OutboxStore.Open(IntoPath))
        {
            other.BeginBatch();
            other.Append("plant/other", [1], MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UnixEpoch);
            other.CommitBatch();
        }

        var before = File.ReadAllBytes(IntoPath);

        var problem = salvage.WriteTo(IntoPath, null, allowWorldWritableDirectory: false, progress: null);

        Assert.Contains(IntoPath, problem, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(IntoPath));
    }

    [Fact]
    public void A_work_directory_that_no_salvage_made_is_refused_by_name_and_kept()
    {
        CreateSampleStore();
        var work = OutboxSalvage.WorkDirectoryOf(IntoPath);
        System.IO.Directory.CreateDirectory(work);
        var kept = Path.Combine(work, "report.txt");
        File.WriteAllText(kept, "someone else's");

        var result = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains(work, result.Error, StringComparison.Ordinal);
        Assert.Equal("someone else's", File.ReadAllText(kept));
        Assert.False(File.Exists(IntoPath));
    }

    [Fact]
    public void A_work_directory_left_by_a_killed_salvage_is_deleted_and_the_salvage_goes_on()
    {
        CreateSampleStore();
        var work = OutboxSalvage.WorkDirectoryOf(IntoPath);
        System.IO.Directory.CreateDirectory(work);
        File.WriteAllText(Path.Combine(work, OutboxSalvage.WorkMarker), "");
        File.WriteAllText(Path.Combine(work, "damaged.db"), "half a copy");

        var result = Run("salvage", StorePath, "--into", IntoPath);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.False(System.IO.Directory.Exists(work));
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
        Assert.DoesNotContain(Contents(salvaged), m => m.Mark == StoredMark.PubrecRecorded);
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
