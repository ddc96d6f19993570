using System.Diagnostics;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.LoadTest;

/// <summary>StoreForward's side of the report: enqueue, drain, online, scale and store growth.</summary>
internal sealed class StoreForwardRuns(LoadSettings settings, MosquittoBroker broker, string folder, CancellationToken cancellationToken)
{
    private const int Producers16 = 16;
    private readonly ReadOnlyMemory<byte> _payload = new byte[settings.PayloadBytes];
    private int _stores;

    public sealed record DrainResult(double EnqueueRate, double DrainRate, TimeSpan StartUp, TimeSpan FirstDelivery, double PeakRssMegabytes, double StoreMegabytes);

    /// <summary>A store of its own, and the ClientId that goes with it for its whole life.</summary>
    public (string Path, string ClientId) NewStore()
    {
        var n = Interlocked.Increment(ref _stores);
        return (Path.Combine(folder, $"store-{n}.db"), $"sf-bench-{n}-{Guid.NewGuid().ToString("N")[..6]}");
    }

    /// <summary>Options for a publisher on the broker, or on a port nothing listens on (pure enqueue).</summary>
    public StoreForwardOptions Options((string Path, string ClientId) store, bool online) =>
        DrainChild.Options(store.Path, store.ClientId, broker.Host, online ? broker.Port : LoopbackPort.Unused(), settings.Window, settings.EncryptionKey);

    /// <summary>Durable enqueue with nothing delivering: msg/s.</summary>
    public async Task<double> EnqueueAsync(int count, int producers, int outstanding, MqttQualityOfServiceLevel qos)
    {
        var store = NewStore();
        await using var publisher = await StoreForwardPublisher.StartAsync(Options(store, online: false), cancellationToken);
        var elapsed = await Producers.PublishAsync(publisher, count, producers, outstanding, "bench/enqueue", qos, _payload, cancellationToken);
        return count / elapsed.TotalSeconds;
    }

    /// <summary>
    /// Fills a store offline with <paramref name="backlog"/> messages (16 producers × 8), closes it, then drains it, here
    /// (warm, like the ceiling) or in a process of its own (cold, and its own RSS; see <see cref="DrainChild"/>), and times
    /// the start, the first delivery and the whole drain.
    /// </summary>
    public async Task<DrainResult> FillThenDrainAsync(int backlog, MqttQualityOfServiceLevel qos, bool inFreshProcess, bool tieredPgo = true)
    {
        var store = NewStore();
        var topic = $"bench/drain/{_stores}";
        double enqueueRate;
        await using (var filler = await StoreForwardPublisher.StartAsync(Options(store, online: false), cancellationToken))
            enqueueRate = backlog / (await Producers.PublishAsync(filler, backlog, Producers16, 8, topic, qos, _payload, cancellationToken)).TotalSeconds;

        var storeMegabytes = StoreMegabytes(store.Path);
        await using var arrival = await FirstArrival.SubscribeAsync(broker.Host, broker.Port, topic, cancellationToken);
        var drain = inFreshProcess
            ? await DrainChild.RunAsync(store.Path, store.ClientId, broker.Host, broker.Port, settings.Window, settings.EncryptionKey, tieredPgo, cancellationToken)
            : await DrainChild.DrainAsync(Options(store, online: true), cancellationToken);
        var first = await arrival.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        return new DrainResult(enqueueRate, backlog / (drain.Drained - drain.StartUp).TotalSeconds, drain.StartUp, first - drain.StartedAt, drain.PeakRssMegabytes, storeMegabytes);
    }

    /// <summary>Enqueue and delivery at once: 16 × 8 producers on a connected publisher, until all is acknowledged.</summary>
    public async Task<double> OnlineAsync(int count, MqttQualityOfServiceLevel qos)
    {
        var store = NewStore();
        await using var publisher = await StoreForwardPublisher.StartAsync(Options(store, online: true), cancellationToken);
        while (!publisher.Status.IsConnected)
            await Task.Delay(10, cancellationToken);
        var clock = Stopwatch.StartNew();
        await Producers.PublishAsync(publisher, count, Producers16, 8, "bench/online", qos, _payload, cancellationToken);
        await publisher.FlushAsync(cancellationToken);
        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Fills a store offline with <paramref name="backlog"/> QoS 1 messages, then drains it with <paramref name="limit"/>
    /// applied to the options (MaxPublishRate, MaxPublishByteRate), and times every arrival at a subscriber.
    /// </summary>
    public async Task<ArrivalRates> DrainLimitedAsync(int backlog, Action<StoreForwardOptions> limit, TimeSpan timeout)
    {
        var store = NewStore();
        var topic = $"bench/rate/{_stores}";
        await using (var filler = await StoreForwardPublisher.StartAsync(Options(store, online: false), cancellationToken))
            await Producers.PublishAsync(filler, backlog, Producers16, 8, topic, MqttQualityOfServiceLevel.AtLeastOnce, _payload, cancellationToken);

        await using var arrivals = await ArrivalTimes.SubscribeAsync(broker.Host, broker.Port, topic, cancellationToken);
        var options = Options(store, online: true);
        limit(options);
        await using var drainer = await StoreForwardPublisher.StartAsync(options, cancellationToken);
        return await arrivals.WaitForAsync(backlog, timeout, cancellationToken);
    }

    /// <summary>Fills one store offline and drains it, <paramref name="cycles"/> times; the store size after each cycle.</summary>
    public async Task<IReadOnlyList<(double Full, double Drained)>> FillDrainCyclesAsync(int cycles, int perCycle)
    {
        var store = NewStore();
        var sizes = new List<(double, double)>();
        for (var cycle = 0; cycle < cycles; cycle++)
        {
            await using (var filler = await StoreForwardPublisher.StartAsync(Options(store, online: false), cancellationToken))
                await Producers.PublishAsync(filler, perCycle, Producers16, 8, "bench/cycles", MqttQualityOfServiceLevel.AtLeastOnce, _payload, cancellationToken);
            var full = StoreMegabytes(store.Path);
            await using (var drainer = await StoreForwardPublisher.StartAsync(Options(store, online: true), cancellationToken))
                await drainer.FlushAsync(cancellationToken);
            sizes.Add((full, StoreMegabytes(store.Path)));
        }

        return sizes;
    }

    /// <summary>The data file and its log (LiteDB names it <c>name-log.ext</c>) together: what the store occupies on disk.</summary>
    private static double StoreMegabytes(string path)
    {
        var log = Path.Combine(Path.GetDirectoryName(path)!, Path.GetFileNameWithoutExtension(path) + "-log" + Path.GetExtension(path));
        return new[] { path, log }.Where(File.Exists).Sum(f => new FileInfo(f).Length) / (1024.0 * 1024);
    }
}
