using System.Buffers.Binary;
using System.Diagnostics;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.LoadTest;

/// <summary>
/// A gateway's process: many <see cref="StoreForwardPublisher"/>s at once, each with its own ClientId and session, either
/// each with its own store file or all naming one <see cref="StoreForwardOptions.StorePath"/>. Prints what the fleet costs
/// (start time, memory, threads), how fast all of them publish durably at once, and what a broker restart loses.
/// </summary>
internal sealed class FleetRun(LoadSettings settings, MosquittoBroker broker, string folder, Report report, CancellationToken cancellationToken)
{
    private const int PerPublisher = 10;

    // Round 0 is cold (the first messages of a fresh process), rounds 1 to 3 warm, round 4 during the broker's restart.
    private const int WarmRounds = 3;
    private const int Rounds = WarmRounds + 2;
    private const string Topic = "fleet";
    private readonly string _run = Guid.NewGuid().ToString("N")[..6];

    public async Task RunAsync()
    {
        var size = settings.FleetSize;
        report.Line($"## A fleet of {size:N0} publishers in one process ({(settings.FleetSharesStore ? "all naming one StorePath" : "each with its own store file")}), QoS 1, {settings.PayloadBytes} B payloads");
        report.Line();
        report.Table("what", "figure");

        await using var subscriber = await PersistentSubscriber.StartAsync(broker.Host, broker.Port, Topic + "/#", "sf-fleet-sub-" + _run, MqttQualityOfServiceLevel.AtLeastOnce);
        var baseline = Sample();
        report.Row("before: the tool and its subscriber alone", baseline.ToString());

        var clock = Stopwatch.StartNew();
        var publishers = await Task.WhenAll(Enumerable.Range(0, size).Select(i => StoreForwardPublisher.StartAsync(Options(i), cancellationToken)));
        report.Row($"StartAsync of all {size:N0}, started at once", $"{clock.Elapsed.TotalSeconds:0.00} s");
        while (publishers.Any(p => !p.Status.IsConnected) && clock.Elapsed < TimeSpan.FromMinutes(2))
            await Task.Delay(50, cancellationToken);
        report.Row("until every one has its session", $"{clock.Elapsed.TotalSeconds:0.00} s ({publishers.Count(p => p.Status.IsConnected):N0} connected)");
        report.Row("after start", Sample().Minus(baseline));

        // Every publisher publishes its messages one after another, each awaited, all publishers at once.
        // Delivery runs meanwhile, on the same store writer: the rate is what a gateway that keeps up with its broker gets.
        var cold = await PublishRoundAsync(publishers, round: 0);
        report.Row($"durable publishing, all {size:N0} at once, {PerPublisher} each one after another: cold (the process's first)", $"{Report.Rate(cold)} msg/s");
        await Task.WhenAll(publishers.Select(p => p.FlushAsync(cancellationToken)));
        report.Row($"after {PerPublisher} messages each, delivered", Sample().Minus(baseline));
        var warm = new List<double>();
        for (var round = 1; round <= WarmRounds; round++)
        {
            warm.Add(await PublishRoundAsync(publishers, round));
            await Task.WhenAll(publishers.Select(p => p.FlushAsync(cancellationToken)));
        }

        warm.Sort();
        report.Row($"the same, warm (median of {WarmRounds} rounds, each delivered before the next)", $"{Report.Rate(warm[WarmRounds / 2])} msg/s ({Report.Rate(warm[0])}–{Report.Rate(warm[^1])})");
        report.Row($"after {PerPublisher * (WarmRounds + 1)} messages each, delivered", Sample().Minus(baseline));

        // The same again while the broker restarts (gracefully, so its own state survives): nothing may be lost.
        var publishing = PublishAllAsync(publishers, round: Rounds - 1);
        await broker.RestartAsync();
        await publishing;
        clock.Restart();
        await Task.WhenAll(publishers.Select(p => p.FlushAsync(cancellationToken))).WaitAsync(TimeSpan.FromMinutes(5), cancellationToken);
        report.Row("after a broker restart: until every publisher's outbox is empty", $"{clock.Elapsed.TotalSeconds:0.00} s");
        var expected = size * PerPublisher * Rounds;
        await subscriber.WaitForCountAsync(expected, TimeSpan.FromMinutes(2));
        var distinct = subscriber.Messages.Select(m => BinaryPrimitives.ReadInt64BigEndian(m.Payload.Span)).Distinct().Count();
        report.Row($"messages at the subscriber, of {expected:N0} acknowledged", $"{distinct:N0} distinct ({expected - distinct:N0} lost), {subscriber.Messages.Count - distinct:N0} duplicates");
        report.Row("after the restart", Sample().Minus(baseline));

        clock.Restart();
        await Task.WhenAll(publishers.Select(p => p.DisposeAsync().AsTask()));
        report.Row($"DisposeAsync of all {size:N0}", $"{clock.Elapsed.TotalSeconds:0.00} s");

        // A gateway that restarts finds its stores: the same publishers started again on them.
        clock.Restart();
        publishers = await Task.WhenAll(Enumerable.Range(0, size).Select(i => StoreForwardPublisher.StartAsync(Options(i), cancellationToken)));
        report.Row($"StartAsync of all {size:N0} again, on their stores", $"{clock.Elapsed.TotalSeconds:0.00} s");
        report.Row("after that start", Sample().Minus(baseline));
        await Task.WhenAll(publishers.Select(p => p.DisposeAsync().AsTask()));
    }

    private StoreForwardOptions Options(int index) => new()
    {
        ClientId = $"sf-fleet-{_run}-{index}",
        Host = broker.Host,
        Port = broker.Port,
        StorePath = Path.Combine(folder, settings.FleetSharesStore ? "fleet.db" : $"fleet-{index}.db"),
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(200),
        ReconnectMaxDelay = TimeSpan.FromSeconds(2),
    };

    /// <summary>One round of <see cref="PublishAllAsync"/>; returns its durable rate in messages a second.</summary>
    private async Task<double> PublishRoundAsync(StoreForwardPublisher[] publishers, int round)
    {
        var clock = Stopwatch.StartNew();
        await PublishAllAsync(publishers, round);
        return publishers.Length * PerPublisher / clock.Elapsed.TotalSeconds;
    }

    private Task PublishAllAsync(StoreForwardPublisher[] publishers, int round) =>
        Task.WhenAll(publishers.Select((publisher, index) => Task.Run(async () =>
        {
            for (var k = 0; k < PerPublisher; k++)
            {
                // The payload starts with a number no other message of the run has: the subscriber counts distinct ones.
                var payload = new byte[Math.Max(8, settings.PayloadBytes)];
                BinaryPrimitives.WriteInt64BigEndian(payload, ((long)index * Rounds + round) * PerPublisher + k);
                await publisher.PublishAsync($"{Topic}/{index}", payload, MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: cancellationToken);
            }
        }, cancellationToken)));

    /// <summary>RSS as the process stands, and the managed heap that is still live after a full collection.</summary>
    private static Footprint Sample()
    {
        var liveHeap = GC.GetTotalMemory(forceFullCollection: true) / (1024.0 * 1024);
        using var self = Process.GetCurrentProcess();
        return new Footprint(self.WorkingSet64 / (1024.0 * 1024), liveHeap, self.Threads.Count);
    }

    private sealed record Footprint(double RssMegabytes, double LiveHeapMegabytes, int Threads)
    {
        public override string ToString() => $"{RssMegabytes:0} MB RSS, {LiveHeapMegabytes:0} MB live heap, {Threads} threads";

        public string Minus(Footprint baseline) =>
            $"{RssMegabytes:0} MB RSS ({RssMegabytes - baseline.RssMegabytes:+0;-0}), {LiveHeapMegabytes:0} MB live heap " +
            $"({LiveHeapMegabytes - baseline.LiveHeapMegabytes:+0;-0}), {Threads} threads ({Threads - baseline.Threads:+0;-0})";
    }
}
