using System.Diagnostics;
using System.Diagnostics.Metrics;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// What a publisher's whole life costs the storage device per message: every message published, delivered to the broker
/// and removed, and the store closed (its last checkpoint included). The bytes come from the kernel's count of this
/// process's writes to block devices (<c>write_bytes</c> in <c>/proc/self/io</c>), so LiteDB's pages, its log, the
/// checkpoint's copies and the file system's own blocks all count; the broker is another process and does not.
/// </summary>
internal static class FlashWear
{
    /// <summary>One way of publishing: a slow sensor, a few producers that each wait for their commit, or the full load.</summary>
    public sealed record Load(string Name, int Messages, int Producers, int Outstanding, int PayloadBytes, TimeSpan Pace);

    /// <param name="BytesPerMessage">Bytes written to the device per message; null where the kernel does not say.</param>
    public sealed record Result(double? BytesPerMessage, double HeldPerMessage, double CommitsPerMessage, TimeSpan MeanPublish);

    /// <summary>This process's bytes written to block devices so far; null where the kernel does not say (not Linux).</summary>
    private static long? DeviceBytesWritten()
    {
        const string Io = "/proc/self/io";
        if (!File.Exists(Io))
            return null;
        var line = File.ReadLines(Io).First(l => l.StartsWith("write_bytes:", StringComparison.Ordinal));
        return long.Parse(line["write_bytes:".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public static async Task<Result> MeasureAsync(StoreForwardRuns runs, Load load, TimeSpan commitInterval, CancellationToken cancellationToken)
    {
        var store = runs.NewStore();
        var options = runs.Options(store, online: true);
        options.CommitInterval = commitInterval;
        const string Topic = "bench/wear";
        var payload = new byte[load.PayloadBytes];

        using var commits = new CommitCounter(store.ClientId);
        var before = DeviceBytesWritten();
        var publishing = TimeSpan.Zero;
        await using (var publisher = await StoreForwardPublisher.StartAsync(options, cancellationToken))
        {
            while (!publisher.Status.IsConnected)
                await Task.Delay(10, cancellationToken);
            if (load.Pace > TimeSpan.Zero)
            {
                // One publish per tick, each awaited: every publish meets an idle writer, as a sensor's do.
                using var tick = new PeriodicTimer(load.Pace);
                for (var i = 0; i < load.Messages; i++)
                {
                    var clock = Stopwatch.StartNew();
                    await publisher.PublishAsync(Topic, payload, MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: cancellationToken);
                    publishing += clock.Elapsed;
                    await tick.WaitForNextTickAsync(cancellationToken);
                }
            }
            else
            {
                var elapsed = await Producers.PublishAsync(publisher, load.Messages, load.Producers, load.Outstanding, Topic, MqttQualityOfServiceLevel.AtLeastOnce, payload, cancellationToken);
                publishing = elapsed * (load.Producers * load.Outstanding);   // total time publishes spent outstanding, at most
            }

            await publisher.FlushAsync(cancellationToken);
        }

        var written = DeviceBytesWritten() - before;
        var held = Topic.Length + load.PayloadBytes;
        return new Result((double?)written / load.Messages, held, (double)commits.Count / load.Messages, publishing / load.Messages);
    }

    /// <summary>Counts one publisher's commits through its public metrics (storeforward.commit.duration, one per commit).</summary>
    private sealed class CommitCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;

        public CommitCounter(string clientId)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == StoreForwardPublisher.MeterName && instrument.Name == "storeforward.commit.duration")
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "storeforward.client_id" && (string?)tag.Value == clientId)
                        Interlocked.Increment(ref _count);
                }
            });
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}
