using MQTTnet.Protocol;
using StoreForward.Outbox;

namespace StoreForward.Tests.Outbox;

/// <summary>A store file in a directory of its own, deleted after the test: where every store-level test starts.</summary>
public abstract class StoreTest : IDisposable
{
    protected TestDirectory Directory { get; } = new();

    protected string StorePath => Directory.File("outbox.db");

    public void Dispose()
    {
        Directory.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Appends <paramref name="count"/> messages to topic <c>t</c> in one batch: payloads of <paramref name="payloadBytes"/>
    /// whose first byte is the index, stored that many seconds after the epoch.
    /// </summary>
    private protected static void AppendBatch(OutboxStore store, int count, int payloadBytes = 1, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce)
    {
        store.BeginBatch();
        for (var i = 0; i < count; i++)
        {
            var payload = new byte[payloadBytes];
            payload[0] = (byte)i;
            store.Append("t", payload, qos, false, DateTimeOffset.UnixEpoch.AddSeconds(i));
        }

        store.CommitBatch();
    }
}
