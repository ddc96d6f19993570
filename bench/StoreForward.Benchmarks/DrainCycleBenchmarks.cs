using BenchmarkDotNet.Attributes;
using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Benchmarks;

/// <summary>
/// The store's share of a drain, without a broker: what the writer thread does per delivered message in a steady state.
/// Each commit reads the next <see cref="PerCommit"/> messages and marks them sent, records PUBREC for the ones before
/// them (QoS 2) and removes the acknowledged ones before those, as the session's commits do while a window is in flight.
/// Figures are per message; the drain cannot go faster than one over this.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(2)]
[IterationCount(8)]
public class DrainCycleBenchmarks
{
    private const int Messages = 4096;
    private BenchmarkStore _store = null!;

    [Params(MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    public MqttQualityOfServiceLevel Qos { get; set; }

    [Params(25, 100)]
    public int PerCommit { get; set; }

    /// <summary>With <see cref="StoreForwardOptions.EncryptionKey"/>: what sealing and opening each record costs.</summary>
    [Params(false, true)]
    public bool Encrypted { get; set; }

    [IterationSetup]
    public void Fill()
    {
        _store = new BenchmarkStore(Encrypted);
        var store = _store.Store;
        for (var done = 0; done < Messages; done += 128)
        {
            store.BeginBatch();
            for (var i = 0; i < 128; i++)
                store.Append("bench/drain", BenchmarkStore.Payload, Qos, false, DateTimeOffset.UtcNow);
            store.CommitBatch();
        }
    }

    [IterationCleanup]
    public void Close() => _store.Dispose();

    [Benchmark(OperationsPerInvoke = Messages)]
    public void Drain()
    {
        var store = _store.Store;
        List<OutboxMessage> sent = [], released = [];
        var last = 0L;
        while (true)
        {
            store.BeginBatch();
            foreach (var message in Qos == MqttQualityOfServiceLevel.ExactlyOnce ? released : sent)
                store.Remove(message);
            if (Qos == MqttQualityOfServiceLevel.ExactlyOnce)
            {
                foreach (var message in sent)
                    store.MarkReleased(message.Sequence);
                released = sent;
            }

            sent = store.ReadAfter(last, PerCommit);
            if (sent.Count > 0)
            {
                last = sent[^1].Sequence;
                store.MarkSentThrough(last);
            }

            if (!store.CommitBatch())
                return;
        }
    }
}
