using Microsoft.Extensions.Time.Testing;
using StoreForward.Reconnect;

namespace StoreForward.Tests.Reconnect;

[Trait("Category", "Unit")]
public sealed class ReconnectBackoffTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static async Task<List<TimeSpan>> DelaysOfFailingAttempts(StoreForwardOptions options, Func<double>? randomizer, int count)
    {
        var time = (FakeTimeProvider)options.TimeProvider;
        var delays = new List<TimeSpan>();
        var pipeline = ReconnectPipeline.Create(LayerSettings.Engine(options).Reconnect, randomizer, (delay, _) => { lock (delays) delays.Add(delay); });
        using var stop = new CancellationTokenSource();
        var running = pipeline.ExecuteAsync(_ => throw new TimeoutException("broker down"), stop.Token).AsTask();

        while (true)
        {
            lock (delays)
            {
                if (delays.Count >= count)
                    break;
            }

            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Yield();
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        return delays.Take(count).ToList();
    }

    private static StoreForwardOptions Options(bool jitter) => new()
    {
        ClientId = "c",
        ReconnectInitialDelay = TimeSpan.FromSeconds(1),
        ReconnectMaxDelay = TimeSpan.FromSeconds(60),
        ReconnectJitter = jitter,
        TimeProvider = new FakeTimeProvider(),
    };

    [Fact]
    public async Task Without_jitter_delays_double_up_to_the_maximum_and_retrying_never_ends()
    {
        var delays = await DelaysOfFailingAttempts(Options(jitter: false), null, 10);

        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60, 60], delays.Select(d => d.TotalSeconds));
    }

    [Fact]
    public async Task With_jitter_the_delays_follow_the_injected_randomness_and_respect_the_cap()
    {
        var delays = await DelaysOfFailingAttempts(Options(jitter: true), () => 0.5, 9);

        Assert.Equal([0.90, 1.09, 2.04, 4.05, 8.08, 16.16, 32.33, 60, 60], delays.Select(d => Math.Round(d.TotalSeconds, 2)));
    }

    [Fact]
    public async Task The_publisher_retries_an_unreachable_broker_on_the_backoff_schedule_and_stops_on_dispose()
    {
        var time = new FakeTimeProvider();
        var options = TestOptions.Offline(_dir.File("outbox.db"));
        options.TimeProvider = time;
        options.ReconnectInitialDelay = TimeSpan.FromSeconds(2);
        options.ReconnectMaxDelay = TimeSpan.FromSeconds(8);
        options.ReconnectJitter = false;
        var failedAt = new List<DateTimeOffset>();
        var publisher = await StoreForwardPublisher.StartAsync(options, null, (_, _) => { lock (failedAt) failedAt.Add(time.GetUtcNow()); }, default);

        // Small steps of fake time, with real time in between for the engine to register its next delay.
        for (var step = 0; step < 250 && Count(failedAt) < 5; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(10);
        }

        List<double> gaps;
        lock (failedAt)
            gaps = failedAt.Zip(failedAt.Skip(1), (a, b) => (b - a).TotalSeconds).Take(4).ToList();
        Assert.Equal(4, gaps.Count);
        foreach (var (gap, expected) in gaps.Zip(new[] { 2.0, 4.0, 8.0, 8.0 }))
            Assert.InRange(gap, expected, expected + 0.2);
        Assert.False(publisher.Status.IsConnected);
        Assert.Contains("refused", publisher.Status.LastConnectionError, StringComparison.OrdinalIgnoreCase);

        var disposing = publisher.DisposeAsync().AsTask();
        Assert.Same(disposing, await Task.WhenAny(disposing, Task.Delay(TimeSpan.FromSeconds(10))));
        var attemptsAtDispose = publisher.ConnectAttempts;
        time.Advance(TimeSpan.FromMinutes(5));
        await Task.Delay(100);
        Assert.Equal(attemptsAtDispose, publisher.ConnectAttempts);
    }

    private static int Count<T>(List<T> list)
    {
        lock (list)
            return list.Count;
    }
}
