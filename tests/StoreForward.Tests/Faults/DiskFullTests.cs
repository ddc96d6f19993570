using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;

namespace StoreForward.Tests.Faults;

/// <summary>
/// The disk fills up under the store (injected at the stream layer: every write fails with ENOSPC): publishing fails
/// clearly, what was acknowledged before stays, and publishing resumes once there is room again.
/// </summary>
[Trait("Category", "Fault")]
public sealed class DiskFullTests : BrokerTest
{
    [Fact]
    public async Task A_full_disk_fails_publishes_clearly_keeps_earlier_messages_and_publishing_resumes_once_freed()
    {
        await Broker.StopAsync();
        var publisher = await StartPublisherAsync(Options());
        var before = await PublishManyAsync(publisher, 0, 50, MqttQualityOfServiceLevel.ExactlyOnce);

        await publisher.SetStorageFaultsForTests(new FullDisk());
        var failures = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Record.ExceptionAsync(() => publisher.PublishAsync("sf/data", Payload(1000 + i)))));

        Assert.All(failures, f =>
        {
            var error = Assert.IsType<OutboxStoreException>(f);
            Assert.Contains("nothing in it was stored", error.Message, StringComparison.Ordinal);
            Assert.Contains("No space left on device", error.Message, StringComparison.Ordinal);
            Assert.Equal(StorePath, error.StorePath);
        });
        Assert.Equal(50, publisher.Status.PendingMessages);

        await publisher.SetStorageFaultsForTests(null);
        var after = await PublishManyAsync(publisher, 50, 50, MqttQualityOfServiceLevel.ExactlyOnce);
        Assert.Equal(100, publisher.Status.PendingMessages);
        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [.. before, .. after], exactlyOnce: true);
        Assert.DoesNotContain(ReceivedIndexes(), i => i >= 1000);
    }
}
