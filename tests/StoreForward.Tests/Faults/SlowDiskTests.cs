using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Faults;

/// <summary>
/// An acknowledged message keeps its window slot until its removal is durable: a crash resends exactly the messages whose
/// removal had not reached the disk, so this is what bounds QoS 1 duplicates after a crash to the window.
/// </summary>
[Trait("Category", "Fault")]
public sealed class SlowDiskTests : BrokerTest
{
    [Fact]
    public async Task While_acknowledgements_cannot_be_made_durable_no_more_than_the_window_is_sent()
    {
        const int Window = 5;
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var options = Options(proxy.Port);
        options.MaxInFlight = Window;
        var publisher = await StartPublisherAsync(options);
        await publisher.PublishAsync("sf/warm-up", Payload(0));
        await publisher.FlushAsync().WaitAsync(Patience);

        // The session exists, so resuming it needs no commit; the backlog waits for the broker.
        await Broker.StopAsync();
        var receipts = await PublishManyAsync(publisher, 0, 50, MqttQualityOfServiceLevel.AtLeastOnce);

        using var disk = new HeldSync();
        await publisher.SetStorageFaultsForTests(disk);
        await Broker.StartAgainAsync();

        // The window's acknowledgements arrive, and their removal waits on the disk.
        Assert.True(await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", Window, Patience), Subscriber.Errors);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromSeconds(1), Patience);
        Assert.True(disk.Waiting > 0, "the removal of the acknowledged messages never reached the disk");
        var sent = proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker).Count(p => p.Topic == "sf/data");
        Assert.True(sent == Window, $"{sent} messages sent with a window of {Window}:\n{string.Join("\n", proxy.Seen)}");
        Assert.Equal(Window, ReceivedIndexes().Count);

        disk.Release();
        await publisher.FlushAsync().WaitAsync(Patience);
        await publisher.SetStorageFaultsForTests(null);
        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }
}
