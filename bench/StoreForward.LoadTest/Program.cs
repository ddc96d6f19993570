using System.Runtime.InteropServices;
using MQTTnet.Protocol;
using StoreForward.LoadTest;
using StoreForward.Tests.Infrastructure;

if (args.Length > 0 && args[0] == DrainChild.Flag)
    return await DrainChild.MainAsync(args[1..]);

LoadSettings settings;
try
{
    if (args.Contains("--help"))
    {
        Console.WriteLine(LoadSettings.Usage);
        return 0;
    }

    settings = LoadSettings.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

var folder = Path.Combine(Path.GetTempPath(), "sf-bench-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(folder);
var report = new Report();
QosLevels qos = new(settings.Repeat) { MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce };

// Besides stdout, where every line went as it was measured.
async Task WriteReportAsync()
{
    if (settings.OutputPath is { } output)
        await File.WriteAllTextAsync(output, report.ToString(), stop.Token);
}

try
{
    // One broker for every row: ratios compare like with like. Receive Maximum = the window the raw client keeps, and no
    // per-packet log lines, which would slow the broker and fill this process's memory.
    await using var broker = await MosquittoBroker.StartAsync(new MosquittoSettings
    {
        ReceiveMaximum = settings.Window,
        LogEveryPacket = false,
        AutosaveInterval = 1800,
    });
    if (settings.FleetSize > 0)
    {
        await new FleetRun(settings, broker, folder, report, stop.Token).RunAsync();
        await WriteReportAsync();
        return 0;
    }

    var runs = new StoreForwardRuns(settings, broker, folder, stop.Token);
    var n = settings.Messages;

    report.Line($"# StoreForward load run, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    report.Line();
    report.Line($"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, " +
        $"Mosquitto on loopback (Receive Maximum {settings.Window}), {settings.PayloadBytes} B payloads, {n:N0} messages per run, " +
        $"window {settings.Window}. Each rate is the median of {settings.Repeat} runs; each delivery ratio is the median of " +
        $"{settings.Repeat} rounds that measure the broker's ceiling right before the runs compared with it." +
        (settings.EncryptionKey is null ? "" : " StoreForward's stores are encrypted at rest (AES-256-GCM)."));
    report.Line();

    // The real limits first: what the disk makes durable and what the broker takes from one bare connection. The disk is
    // measured at the group sizes the enqueue rows make: 1 record per fdatasync (one sequential producer), 16 and 128.
    var disk = new Dictionary<int, double>();
    foreach (var group in (int[])[1, 16, 128])
        disk[group] = QosLevels.Median(Enumerable.Range(0, settings.Repeat).Select(_ => DiskLimit.Measure(folder, group, settings.DiskLimitTime)));

    // The runs compared with nothing warm this process (JIT, thread pool, LiteDB's caches) before the paired rounds.
    var single = await qos.MeasureAsync(q => RawMqttNet.MeasureAsync(broker.Host, broker.Port, Math.Min(n, 20_000), 1, q, settings.PayloadBytes, stop.Token));
    var paho = await PahoPeer.BuildAsync(folder, stop.Token);
    var pahoCount = Math.Min(n, 30_000);
    var pahoRates = paho is null
        ? null
        : await qos.MeasureAsync(q => paho.MeasureAsync(broker.Host, broker.Port, pahoCount, settings.Window, q, settings.PayloadBytes, Path.Combine(folder, "paho"), stop.Token));
    var sequential = Math.Clamp(n / 50, 100, 2_000);
    var enqueue1 = await qos.MeasureAsync(q => runs.EnqueueAsync(sequential, 1, 1, q));
    var enqueue16 = await qos.MeasureAsync(q => runs.EnqueueAsync(Math.Max(n / 5, 1_000), 16, 1, q));

    // Each round measures the broker's ceiling right before the runs compared with it: on a 2-core machine shared with the
    // broker the speed drifts over minutes, and a ratio of runs made back to back is steadier than a ratio of medians taken
    // minutes apart. Ratios are the medians of the rounds' ratios.
    var rounds = await qos.RoundsAsync(async q => new Round(
        await RawSocketCeiling.MeasureAsync(broker.Host, broker.Port, n, settings.Window, q, settings.PayloadBytes, stop.Token),
        await RawMqttNet.MeasureAsync(broker.Host, broker.Port, n, settings.Window, q, settings.PayloadBytes, stop.Token),
        await runs.FillThenDrainAsync(n, q, inFreshProcess: false),
        await runs.OnlineAsync(n, q)));
    string[] Cells(Func<Round, double> figure) => [.. rounds.Select(r => Report.Rate(QosLevels.Median(r.Select(figure))))];
    string[] CellsWithRatio(Func<Round, double> figure, Func<Round, double> limit) =>
        [.. rounds.Select(r => Report.RateWithRatio(QosLevels.Median(r.Select(figure)), QosLevels.Median(r.Select(x => figure(x) / limit(x)))))];
    string[] Both(double rate, double limit) => [Report.RateWithRatio(rate, rate / limit)];

    report.Line("## The real limits");
    report.Line();
    report.Table("what", "QoS 1 msg/s", "QoS 2 msg/s");
    report.Row([$"the broker's ceiling: a bare-socket MQTT 5 publisher of {n:N0}, {settings.Window} in flight, one write per turn, no library, no persistence", .. Cells(r => r.Socket)]);
    report.Row($"the disk's limit: {DiskLimit.RecordBytes} B records appended 128 per fdatasync, records/s", Report.Rate(disk[128]), "");
    report.Row($"the disk's limit: 16 records per fdatasync, records/s", Report.Rate(disk[16]), "");
    report.Row($"the disk's limit: 1 record per fdatasync, commits/s", Report.Rate(disk[1]), "");
    report.Line();
    report.Line("## StoreForward against them (ratio to the limit in brackets: the broker's ceiling for delivery, the disk's limit at the same group size for enqueue)");
    report.Line();
    report.Table("what", "QoS 1 msg/s", "QoS 2 msg/s");
    report.Row([$"raw MQTTnet IMqttClient, {settings.Window} in flight, no persistence", .. CellsWithRatio(r => r.MqttNet, r => r.Socket)]);
    report.Row("raw MQTTnet, 1 in flight", Report.Rate(single[0]), Report.Rate(single[1]));
    report.Row($"Eclipse Paho C MQTTAsync, file persistence (never fsyncs), {settings.Window} in flight ({pahoCount:N0} msgs)",
        pahoRates is null ? PahoPeer.Missing : Report.Rate(pahoRates[0]), pahoRates is null ? PahoPeer.Missing : Report.Rate(pahoRates[1]));
    report.Row([$"StoreForward enqueue, 1 sequential producer ({sequential:N0} msgs)", .. Both(enqueue1[0], disk[1]), .. Both(enqueue1[1], disk[1])]);
    report.Row(["StoreForward enqueue, 16 producers × 1 outstanding", .. Both(enqueue16[0], disk[16]), .. Both(enqueue16[1], disk[16])]);
    report.Row(["StoreForward enqueue, 16 producers × 8 outstanding", .. CellsWithRatio(r => r.Drain.EnqueueRate, _ => disk[128])]);
    report.Row([$"StoreForward drain of a {n:N0} backlog, warm", .. CellsWithRatio(r => r.Drain.DrainRate, r => r.Socket)]);
    report.Row(["StoreForward drain ÷ raw MQTTnet", .. rounds.Select(r => Report.Ratio(QosLevels.Median(r.Select(x => x.Drain.DrainRate / x.MqttNet)), 1))]);
    if (pahoRates is not null)
    {
        report.Row("StoreForward drain ÷ Paho C",
            Report.Ratio(QosLevels.Median(rounds[0].Select(r => r.Drain.DrainRate)), pahoRates[0]),
            Report.Ratio(QosLevels.Median(rounds[1].Select(r => r.Drain.DrainRate)), pahoRates[1]));
    }

    report.Row(["StoreForward online: 16 × 8 producers while delivering", .. CellsWithRatio(r => r.Online, r => r.Socket)]);
    report.Line();

    report.Line($"## Backlog growth (QoS 1): fill offline with 16 × 8 producers, then drain in a fresh process, {settings.Repeat} times each; StartAsync and the first delivery are cold (JIT included), drain msg/s counts from StartAsync's return");
    report.Line();
    report.Table("backlog", "enqueue msg/s", "store MB", "StartAsync ms", "first delivery ms after start", "drain msg/s, median of the runs (÷ warm drain, ÷ broker's ceiling); range", "peak RSS MB of the draining process");
    var warm = QosLevels.Median(rounds[0].Select(r => r.Drain.DrainRate));
    var ceiling = QosLevels.Median(rounds[0].Select(r => r.Socket));
    foreach (var backlog in settings.Backlogs)
    {
        foreach (var tieredPgo in (bool[])[true, false])
        {
            // A fresh process spreads more than a warm one: the run with the median drain rate stands for all, with the range.
            var all = new List<StoreForwardRuns.DrainResult>();
            for (var i = 0; i < settings.Repeat; i++)
                all.Add(await runs.FillThenDrainAsync(backlog, MqttQualityOfServiceLevel.AtLeastOnce, inFreshProcess: true, tieredPgo));
            all.Sort((a, b) => a.DrainRate.CompareTo(b.DrainRate));
            var r = all[all.Count / 2];
            report.Row($"{backlog:N0}{(tieredPgo ? "" : ", DOTNET_TieredPGO=0")}", Report.Rate(r.EnqueueRate), Report.Number(r.StoreMegabytes, "0.0"), Report.Number(r.StartUp.TotalMilliseconds, "0"),
                Report.Number(r.FirstDelivery.TotalMilliseconds, "0"),
                $"{Report.Rate(r.DrainRate)} ({Report.Ratio(r.DrainRate, warm)}, {Report.Ratio(r.DrainRate, ceiling)}); {Report.Rate(all[0].DrainRate)}–{Report.Rate(all[^1].DrainRate)}",
                Report.Number(r.PeakRssMegabytes, "0"));
        }
    }

    report.Line();
    report.Line($"## Store size across {settings.Cycles} fill/drain cycles of {settings.MessagesPerCycle:N0} messages (data file + log)");
    report.Line();
    report.Table("cycle", "MB when full", "MB when drained");
    var cycles = await runs.FillDrainCyclesAsync(settings.Cycles, settings.MessagesPerCycle);
    for (var i = 0; i < cycles.Count; i++)
        report.Row($"{i + 1}", Report.Number(cycles[i].Full, "0.0"), Report.Number(cycles[i].Drained, "0.0"));

    report.Line();
    report.Line($"## Publish rate limits (QoS 1): a backlog of {settings.RateSeconds} s worth drained under one limit, every arrival timed at a subscriber");
    report.Line();
    report.Table("limit", "configured", "achieved, first to last arrival", "most in any one second");
    var messageBytes = System.Text.Encoding.UTF8.GetByteCount("bench/rate/00") + settings.PayloadBytes;
    var byCount = settings.PublishRate * settings.RateSeconds;
    var byBytes = (int)Math.Max(2, (long)settings.PublishByteRate * settings.RateSeconds / messageBytes);
    var limitTimeout = TimeSpan.FromSeconds(settings.RateSeconds * 3 + 30);
    var messageLimited = await runs.DrainLimitedAsync(byCount, o => o.MaxPublishRate = settings.PublishRate, limitTimeout);
    var byteLimited = await runs.DrainLimitedAsync(byBytes, o => o.MaxPublishByteRate = settings.PublishByteRate, limitTimeout);
    report.Row($"MaxPublishRate ({byCount:N0} msgs)", $"{settings.PublishRate:N0} msg/s",
        $"{Report.Number(messageLimited.MessagesPerSecond, "0.0")} msg/s ({Report.Ratio(messageLimited.MessagesPerSecond, settings.PublishRate)})",
        $"{messageLimited.MostMessagesInASecond:N0} ({Report.Ratio(messageLimited.MostMessagesInASecond, settings.PublishRate)})");
    report.Row($"MaxPublishByteRate ({byBytes:N0} msgs of {messageBytes} B)", $"{settings.PublishByteRate:N0} B/s",
        $"{byteLimited.BytesPerSecond:N0} B/s ({Report.Ratio(byteLimited.BytesPerSecond, settings.PublishByteRate)})",
        $"{byteLimited.MostBytesInASecond:N0} B ({Report.Ratio(byteLimited.MostBytesInASecond, settings.PublishByteRate)})");

    report.Line();
    report.Line("## Flash wear (QoS 1, broker up): bytes this process wrote to the device per message over a publisher's whole life " +
        "(publish, delivery, removal, close), from the kernel's write_bytes; \"held\" is the message's topic and payload");
    report.Line();
    report.Table("load", "CommitInterval", "bytes written per message", "÷ bytes held", "commits per message", "mean PublishAsync ms");
    FlashWear.Load[] wearLoads =
    [
        new("a slow sensor: 100 B, one publish every 20 ms, each awaited (every publish and every removal commits alone, as at 1/s)", 500 / settings.WearDivisor, 1, 1, 100, TimeSpan.FromMilliseconds(20)),
        new("4 producers each awaiting its publish, 10 B", 2_000 / settings.WearDivisor, 4, 1, 10, TimeSpan.Zero),
        new($"16 producers × 8 outstanding, {settings.PayloadBytes} B", 20_000 / settings.WearDivisor, 16, 8, settings.PayloadBytes, TimeSpan.Zero),
    ];
    foreach (var load in wearLoads)
    {
        foreach (var interval in (TimeSpan[])[TimeSpan.Zero, TimeSpan.FromMilliseconds(5)])
        {
            var wear = await FlashWear.MeasureAsync(runs, load, interval, stop.Token);
            report.Row($"{load.Name} ({load.Messages:N0} msgs)", interval == TimeSpan.Zero ? "0 (default)" : $"{interval.TotalMilliseconds:0} ms",
                wear.BytesPerMessage is { } bytes ? Report.Number(bytes, "#,0") : "not on this OS",
                wear.BytesPerMessage is { } written ? Report.Ratio(written, wear.HeldPerMessage) : "", Report.Number(wear.CommitsPerMessage, "0.000"),
                Report.Number(wear.MeanPublish.TotalMilliseconds, "0.00"));
        }
    }

    await WriteReportAsync();
    return 0;
}
finally
{
    Directory.Delete(folder, recursive: true);
}

/// <summary>One round of the paired measurements: the broker's ceiling, raw MQTTnet, then the StoreForward runs compared with them.</summary>
internal sealed record Round(double Socket, double MqttNet, StoreForwardRuns.DrainResult Drain, double Online);
