using BenchmarkDotNet.Attributes;
using MQTTnet.Protocol;

namespace StoreForward.Benchmarks;

/// <summary>
/// The durable store alone on this machine's disk: commits of <see cref="PerCommit"/> appends, each commit one fsync.
/// Shows what one fsync costs and how much batching buys. Figures are per message.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(2)]
[IterationCount(8)]
public class StoreCommitBenchmarks
{
    private const int Messages = 1024;
    private BenchmarkStore _store = null!;

    [Params(1, 16, 128)]
    public int PerCommit { get; set; }

    /// <summary>With <see cref="StoreForwardOptions.EncryptionKey"/>: what sealing and opening each record costs.</summary>
    [Params(false, true)]
    public bool Encrypted { get; set; }

    [IterationSetup]
    public void Open() => _store = new BenchmarkStore(Encrypted);

    [IterationCleanup]
    public void Close() => _store.Dispose();

    [Benchmark(OperationsPerInvoke = Messages)]
    public void Append()
    {
        var store = _store.Store;
        for (var done = 0; done < Messages; done += PerCommit)
        {
            store.BeginBatch();
            for (var i = 0; i < PerCommit; i++)
                store.Append("bench/store", BenchmarkStore.Payload, MqttQualityOfServiceLevel.AtLeastOnce, false, DateTimeOffset.UtcNow);
            store.CommitBatch();
        }
    }
}
