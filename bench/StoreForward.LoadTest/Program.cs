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
    var runs = new StoreForwardRuns(settings, broker, folder, stop.Token);
    var n = settings.Messages;

    report.Line($"# StoreForward load run, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    report.Line();
    report.Line($"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, " +
        $"Mosquitto on loopback (Receive Maximum {settings.Window}), {settings.PayloadBytes} B payloads, {n:N0} messages per run, " +
        $"window {settings.Window}. Each rate in the first table is the median of {settings.Repeat} runs; ratios are to the raw MQTTnet " +
        "ceiling of this run.");
    report.Line();

    report.Table("what", "QoS 1 msg/s", "QoS 2 msg/s");
    var ceiling = await qos.MeasureAsync(q => RawMqttCeiling.MeasureAsync(broker.Host, broker.Port, n, settings.Window, q, settings.PayloadBytes, stop.Token));
    report.Row($"raw MQTTnet, {settings.Window} in flight, no persistence: **the ceiling**", Report.Rate(ceiling[0]), Report.Rate(ceiling[1]));
    var single = await qos.MeasureAsync(q => RawMqttCeiling.MeasureAsync(broker.Host, broker.Port, Math.Min(n, 20_000), 1, q, settings.PayloadBytes, stop.Token));
    report.Row("raw MQTTnet, 1 in flight", Report.Rate(single[0]), Report.Rate(single[1]));

    var paho = await PahoPeer.BuildAsync(folder, stop.Token);
    var pahoCount = Math.Min(n, 30_000);
    var pahoRates = paho is null
        ? null
        : await qos.MeasureAsync(q => paho.MeasureAsync(broker.Host, broker.Port, pahoCount, settings.Window, q, settings.PayloadBytes, Path.Combine(folder, "paho"), stop.Token));
    report.Row($"Eclipse Paho C MQTTAsync, file persistence (never fsyncs), {settings.Window} in flight ({pahoCount:N0} msgs)",
        pahoRates is null ? PahoPeer.Missing : Report.Rate(pahoRates[0]), pahoRates is null ? PahoPeer.Missing : Report.Rate(pahoRates[1]));

    var sequential = Math.Clamp(n / 50, 100, 2_000);
    var enqueue1 = await qos.MeasureAsync(q => runs.EnqueueAsync(sequential, 1, 1, q));
    report.Row($"StoreForward enqueue, 1 sequential producer ({sequential:N0} msgs)", Report.Rate(enqueue1[0]), Report.Rate(enqueue1[1]));
    var enqueue16 = await qos.MeasureAsync(q => runs.EnqueueAsync(Math.Max(n / 5, 1_000), 16, 1, q));
    report.Row("StoreForward enqueue, 16 producers × 1 outstanding", Report.Rate(enqueue16[0]), Report.Rate(enqueue16[1]));
    var drains = new List<StoreForwardRuns.DrainResult>();
    foreach (var q in qos)
        drains.Add(await qos.MedianAsync(() => runs.FillThenDrainAsync(n, q, inFreshProcess: false), r => r.DrainRate));
    report.Row("StoreForward enqueue, 16 producers × 8 outstanding", Report.Rate(drains[0].EnqueueRate), Report.Rate(drains[1].EnqueueRate));
    report.Row($"StoreForward drain of a {n:N0} backlog", Report.RateWithRatio(drains[0].DrainRate, ceiling[0]), Report.RateWithRatio(drains[1].DrainRate, ceiling[1]));
    if (pahoRates is not null)
        report.Row("StoreForward drain ÷ Paho C", Report.Ratio(drains[0].DrainRate, pahoRates[0]), Report.Ratio(drains[1].DrainRate, pahoRates[1]));
    var online = await qos.MeasureAsync(q => runs.OnlineAsync(n, q));
    report.Row("StoreForward online: 16 × 8 producers while delivering", Report.RateWithRatio(online[0], ceiling[0]), Report.RateWithRatio(online[1], ceiling[1]));
    report.Line();

    report.Line("## Backlog growth (QoS 1): fill offline with 16 × 8 producers, then drain in a fresh process; StartAsync and the first delivery are cold (JIT included), drain msg/s counts from StartAsync's return");
    report.Line();
    report.Table("backlog", "enqueue msg/s", "store MB", "StartAsync ms", "first delivery ms after start", "drain msg/s", "peak RSS MB of the draining process");
    foreach (var backlog in settings.Backlogs)
    {
        var r = await runs.FillThenDrainAsync(backlog, MqttQualityOfServiceLevel.AtLeastOnce, inFreshProcess: true);
        report.Row($"{backlog:N0}", Report.Rate(r.EnqueueRate), Report.Number(r.StoreMegabytes, "0.0"), Report.Number(r.StartUp.TotalMilliseconds, "0"),
            Report.Number(r.FirstDelivery.TotalMilliseconds, "0"), Report.Rate(r.DrainRate), Report.Number(r.PeakRssMegabytes, "0"));
    }

    report.Line();
    report.Line($"## Store size across {settings.Cycles} fill/drain cycles of {settings.MessagesPerCycle:N0} messages (data file + log)");
    report.Line();
    report.Table("cycle", "MB when full", "MB when drained");
    var cycles = await runs.FillDrainCyclesAsync(settings.Cycles, settings.MessagesPerCycle);
    for (var i = 0; i < cycles.Count; i++)
        report.Row($"{i + 1}", Report.Number(cycles[i].Full, "0.0"), Report.Number(cycles[i].Drained, "0.0"));

    if (settings.OutputPath is { } output)
        await File.WriteAllTextAsync(output, report.ToString(), stop.Token);
    return 0;
}
finally
{
    Directory.Delete(folder, recursive: true);
}
