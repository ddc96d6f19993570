using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using StoreForward.Outbox;

namespace StoreForward.Cli.Commands;

internal sealed class StatsSettings : StoreSettings
{
    [CommandOption("--top <N>")]
    [Description("How many topics to list, those with the most messages first.")]
    [DefaultValue(10)]
    public int Top { get; set; } = 10;

    public override ValidationResult Validate() =>
        Top < 0 ? ValidationResult.Error($"--top must be 0 or more, not {Top}.") : ValidationResult.Success();
}

/// <summary><c>stats</c>: what the store holds, read message by message, and its counters.</summary>
internal sealed class StatsCommand(CliEnvironment environment) : StoreCommand<StatsSettings>(environment)
{
    private protected override int Run(OutboxStore store, StatsSettings settings, CancellationToken cancellationToken)
    {
        var snapshot = store.Snapshot;
        var now = Environment.Time.GetUtcNow();
        var scan = CliProgress.Run(Environment, "Reading messages", snapshot.PendingMessages, progress => Scan(store, now, progress), cancellationToken);
        var stats = new StoreStats(
            store.FilePath,
            new FileInfo(store.FilePath).Length,
            new FileInfo(OutboxStore.LogPathOf(store.FilePath)).Length,
            snapshot.PendingMessages,
            snapshot.PendingBytes,
            scan.Queued,
            scan.InFlight,
            scan.Released,
            new QosCounts(scan.ByQos[0], scan.ByQos[1], scan.ByQos[2]),
            snapshot.OldestStoredAt,
            snapshot.OldestStoredAt is { } oldest ? now - oldest : null,
            scan.NewestStoredAt,
            scan.WithExpiry,
            scan.ExpiredNotRemoved,
            store.UnreadableSkipped,
            snapshot.DeadLetters,
            snapshot.Dropped,
            snapshot.Expired,
            snapshot.Superseded,
            snapshot.LastSequence,
            store.SentThrough,
            store.SessionServer is not null,
            store.SessionServer is null or "" or StoreForward.Session.DeliveryEngine.SharedSessionKey ? null : store.SessionServer,
            [.. scan.Topics.OrderByDescending(t => t.Value.Messages).ThenBy(t => t.Key, StringComparer.Ordinal).Take(settings.Top)
                .Select(t => new TopicStats(t.Key, t.Value.Messages, t.Value.Bytes))]);

        if (settings.Json)
            CliJson.Write(Environment, stats);
        else
            Show(stats);
        return ExitCodes.Ok;
    }

    private static Scanned Scan(OutboxStore store, DateTimeOffset now, IProgress<int> progress)
    {
        var scanned = new Scanned();
        foreach (var message in store.ReadAll())
        {
            progress.Report(++scanned.Read);
            switch (message.Mark)
            {
                case StoredMark.Unsent:
                    scanned.Queued++;
                    break;
                case StoredMark.PubrecRecorded:
                    scanned.InFlight++;
                    scanned.Released++;
                    break;
                default:
                    scanned.InFlight++;
                    break;
            }

            scanned.ByQos[Math.Clamp((int)message.Qos, 0, 2)]++;
            if (message.ExpiresAt is { } expiresAt)
            {
                scanned.WithExpiry++;
                if (expiresAt <= now)
                    scanned.ExpiredNotRemoved++;
            }

            if (scanned.NewestStoredAt is not { } newest || message.StoredAt > newest)
                scanned.NewestStoredAt = message.StoredAt;
            var topic = scanned.Topics.TryGetValue(message.Topic, out var counts) ? counts : default;
            scanned.Topics[message.Topic] = (topic.Messages + 1, topic.Bytes + message.Size);
        }

        return scanned;
    }

    private void Show(StoreStats stats)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumns("", "");
        void Row(string name, string value) => table.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value));
        Row("Store", stats.Path);
        Row("Files", $"{Format.Bytes(stats.DataFileBytes)} data, {Format.Bytes(stats.LogFileBytes)} log");
        Row("Messages", $"{Format.Count(stats.Messages)} ({Format.Bytes(stats.PendingBytes)} of topics and payloads)");
        Row("  never sent", Format.Count(stats.Queued));
        Row("  in flight", $"{Format.Count(stats.InFlight)} (PUBREC recorded for {Format.Count(stats.Released)})");
        Row("  by QoS", $"0: {Format.Count(stats.ByQos.AtMostOnce)}, 1: {Format.Count(stats.ByQos.AtLeastOnce)}, 2: {Format.Count(stats.ByQos.ExactlyOnce)}");
        Row("Oldest", stats.OldestStoredAt is { } oldest ? $"{Format.Time(oldest)} ({Format.Age(stats.OldestAge!.Value)} old)" : "-");
        Row("Newest", stats.NewestStoredAt is { } newest ? Format.Time(newest) : "-");
        Row("With an expiry", $"{Format.Count(stats.WithExpiry)} ({Format.Count(stats.ExpiredNotRemoved)} expired, removed when the publisher reaches them)");
        if (stats.FailedIntegrityCheck > 0)
            Row("Failed integrity check", $"{Format.Count(stats.FailedIntegrityCheck)} (altered on disk or sealed with another key; the publisher sets them aside as dead letters)");
        Row("Dead letters", Format.Count(stats.DeadLetters));
        Row("Over the store's life", $"{Format.Count(stats.Dropped)} dropped, {Format.Count(stats.Expired)} expired, {Format.Count(stats.Superseded)} superseded");
        Row("Sequences", $"last {Format.Count(stats.LastSequence)}, sent through {Format.Count(stats.SentThrough)}");
        Row("Broker session", !stats.SessionEstablished ? "none yet"
            : stats.SessionServer is null ? "established (resumed on the next connection)"
            : $"with {stats.SessionServer} (resumed there on the next connection; another server's session is cleared first)");
        Environment.Out.Write(table);

        if (stats.TopTopics.Count == 0)
            return;
        var topics = new Table().Border(TableBorder.Rounded).Title("Topics with the most messages")
            .AddColumn("Topic").AddColumn(new TableColumn("Messages").RightAligned()).AddColumn(new TableColumn("Bytes").RightAligned()).AddColumn(new TableColumn("Share").RightAligned());
        foreach (var topic in stats.TopTopics)
        {
            var share = stats.Messages == 0 ? 0 : 100.0 * topic.Messages / stats.Messages;
            topics.AddRow(new Text(topic.Topic), new Text(Format.Count(topic.Messages)), new Text(Format.Bytes(topic.Bytes)), new Text(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{share:0.0}%")));
        }

        Environment.Out.Write(topics);
    }

    private sealed class Scanned
    {
        public int Read;
        public long Queued;
        public long InFlight;
        public long Released;
        public long WithExpiry;
        public long ExpiredNotRemoved;
        public DateTimeOffset? NewestStoredAt;
        public readonly long[] ByQos = new long[3];
        public readonly Dictionary<string, (long Messages, long Bytes)> Topics = new(StringComparer.Ordinal);
    }
}

/// <summary>What <c>stats --json</c> writes.</summary>
internal sealed record StoreStats(
    string Path,
    long DataFileBytes,
    long LogFileBytes,
    long Messages,
    long PendingBytes,
    long Queued,
    long InFlight,
    long Released,
    QosCounts ByQos,
    DateTimeOffset? OldestStoredAt,
    TimeSpan? OldestAge,
    DateTimeOffset? NewestStoredAt,
    long WithExpiry,
    long ExpiredNotRemoved,
    long FailedIntegrityCheck,
    long DeadLetters,
    long Dropped,
    long Expired,
    long Superseded,
    long LastSequence,
    long SentThrough,
    bool SessionEstablished,
    string? SessionServer,
    IReadOnlyList<TopicStats> TopTopics);

internal sealed record QosCounts(long AtMostOnce, long AtLeastOnce, long ExactlyOnce);

internal sealed record TopicStats(string Topic, long Messages, long Bytes);
