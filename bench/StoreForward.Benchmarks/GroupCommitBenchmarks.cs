using BenchmarkDotNet.Attributes;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Benchmarks;

/// <summary>
/// <see cref="Publishers"/> concurrent publishers through the group-commit writer, as <c>PublishAsync</c> does: whatever
/// queues during one fsync shares the next commit. Figures are per message.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(2)]
[IterationCount(8)]
public class GroupCommitBenchmarks
{
    private const int Messages = 4096;
    private BenchmarkStore _store = null!;
    private GroupCommitWriter _writer = null!;

    [Params(1, 16, 128)]
    public int Publishers { get; set; }

    [IterationSetup]
    public void Open()
    {
        _store = new BenchmarkStore();
        _writer = new GroupCommitWriter(_store.Store, TimeProvider.System);
    }

    [IterationCleanup]
    public void Close()
    {
        // The writer closes the store it owns.
        _writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _store.DeleteFolder();
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task Publish()
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < Messages)
            {
                var work = new AppendWork("bench/store", BenchmarkStore.Payload, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UtcNow, OutboxLimits.Unbounded);
                _writer.Enqueue(work);
                await work.Task;
            }
        })));
    }
}
