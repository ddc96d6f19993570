using System.Globalization;

namespace StoreForward.LoadTest;

/// <summary>What one run measures; every figure in the report comes from the same broker and machine.</summary>
internal sealed record LoadSettings
{
    /// <summary>Messages per ceiling, drain and online run (the backlog is 100k).</summary>
    public int Messages { get; init; } = 100_000;

    public int PayloadBytes { get; init; } = 200;

    /// <summary>Runs per figure of the main table; the median is reported.</summary>
    public int Repeat { get; init; } = 3;

    /// <summary>Publishes outstanding for the raw ceiling, StoreForward's MaxInFlight and the broker's Receive Maximum.</summary>
    public int Window { get; init; } = 100;

    /// <summary>Backlog sizes for the cost-growth and scale rows.</summary>
    public IReadOnlyList<int> Backlogs { get; init; } = [10_000, 100_000, 1_000_000];

    /// <summary>Fill/drain cycles for the store-size row, and messages per cycle.</summary>
    public int Cycles { get; init; } = 5;

    public int MessagesPerCycle { get; init; } = 50_000;

    /// <summary>The MaxPublishRate the rate-limit row drains under (AWS IoT Core's limit per connection).</summary>
    public int PublishRate { get; init; } = 100;

    /// <summary>The MaxPublishByteRate the rate-limit row drains under (AWS IoT Core's 512 KiB per second).</summary>
    public int PublishByteRate { get; init; } = 512 * 1024;

    /// <summary>How many seconds of messages each rate-limit row drains.</summary>
    public int RateSeconds { get; init; } = 20;

    /// <summary>How long each measurement of the disk's limit appends and syncs.</summary>
    public TimeSpan DiskLimitTime { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The flash-wear loads publish their message counts divided by this (the smoke run's are a tenth).</summary>
    public int WearDivisor { get; init; } = 1;

    /// <summary>With <c>--fleet N</c>: the run is the fleet of N publishers in one process instead of the main report.</summary>
    public int FleetSize { get; init; }

    /// <summary>With <c>--fleet-shared</c>: the fleet's publishers all name one StorePath.</summary>
    public bool FleetSharesStore { get; init; }

    /// <summary>Where the markdown report is written besides stdout, if anywhere.</summary>
    public string? OutputPath { get; init; }

    /// <summary>With <c>--encrypted</c>: every store StoreForward fills or drains is encrypted at rest under this key.</summary>
    public byte[]? EncryptionKey { get; init; }

    /// <summary>A few thousand messages per run: proves the tool works (CI), measures nothing worth quoting.</summary>
    public static LoadSettings Smoke { get; } = new()
    {
        Messages = 3_000,
        Backlogs = [2_000, 5_000],
        Cycles = 2,
        MessagesPerCycle = 2_000,
        Repeat = 1,
        RateSeconds = 2,
        DiskLimitTime = TimeSpan.FromSeconds(0.3),
        WearDivisor = 10,
    };

    public const string Usage = """
        StoreForward load tool: starts Mosquitto on a loopback port and measures, in one run, the real limits (what the
        broker takes from a bare-socket publisher, what the disk makes durable per fdatasync) and StoreForward's enqueue,
        drain and online rates (QoS 1 and 2) as ratios to them, warm and cold, cost growth with the backlog, memory,
        start-up time, store size across fill/drain cycles, the publish rate limits and the bytes written to the device
        per message (flash wear), with and without a CommitInterval.

          --messages N       messages per ceiling, drain and online run (default 100000)
          --payload N        payload bytes (default 200)
          --window N         publishes in flight / MaxInFlight / broker Receive Maximum (default 100)
          --repeat N         runs per figure of the main table, median reported (default 3)
          --backlogs A,B,C   backlog sizes for the scale rows (default 10000,100000,1000000)
          --cycles N         fill/drain cycles for the store-size row (default 5)
          --cycle-messages N messages per fill/drain cycle (default 50000)
          --rate N           MaxPublishRate of the rate-limit row, messages/s (default 100)
          --byte-rate N      MaxPublishByteRate of the rate-limit row, bytes/s (default 524288)
          --rate-seconds N   seconds of messages each rate-limit row drains (default 20)
          --fleet N          instead: N publishers in one process (1000 for the issue's figures): start time, memory,
                             threads, aggregate durable publishing, a broker restart and what it lost
          --fleet-shared     with --fleet: all of them name one StorePath (default: a store file each)
          --smoke            small counts, for CI: the figures mean nothing
          --encrypted        StoreForward's stores are encrypted at rest (EncryptionKey, AES-256-GCM)
          --out PATH         also write the markdown report to PATH
        """;

    public static LoadSettings Parse(string[] args)
    {
        var settings = args.Contains("--smoke") ? Smoke : new LoadSettings();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            int Number() => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new ArgumentException($"{args[i - 1]} takes a positive whole number, not '{args[i]}'.");

            settings = args[i] switch
            {
                "--smoke" => settings,
                "--messages" => settings with { Messages = Number() },
                "--payload" => settings with { PayloadBytes = Number() },
                "--window" => settings with { Window = Number() },
                "--repeat" => settings with { Repeat = Number() },
                "--backlogs" => settings with { Backlogs = Value().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() },
                "--cycles" => settings with { Cycles = Number() },
                "--cycle-messages" => settings with { MessagesPerCycle = Number() },
                "--rate" => settings with { PublishRate = Number() },
                "--byte-rate" => settings with { PublishByteRate = Number() },
                "--rate-seconds" => settings with { RateSeconds = Number() },
                "--out" => settings with { OutputPath = Value() },
                "--fleet" => settings with { FleetSize = Number() },
                "--fleet-shared" => settings with { FleetSharesStore = true },
                "--encrypted" => settings with { EncryptionKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32) },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'.\n\n{Usage}"),
            };
        }

        return settings;
    }
}
