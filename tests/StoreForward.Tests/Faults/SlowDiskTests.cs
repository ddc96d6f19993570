using MQTTnet.Protocol;
using StoreForward.Tests.EndToEnd;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Faults;

/// <summary>
/// A disk that stops answering while a backlog drains. A crash resends every message whose removal had not reached the
/// disk; up to one window of acknowledged messages may wait for their removal to be durable, beyond that they take
/// window slots, so the broker gets at most two windows, and that bounds the QoS 1 duplicates of a crash. And the time
/// spent waiting for the disk must not look like a silent broker.
/// </summary>
[Trait("Category", "Fault")]
public sealed class SlowDiskTests : BrokerTest
{
    [Fact]
    public async Task While_acknowledgements_cannot_be_made_durable_no_more_than_two_windows_are_sent()
    {
        const int Window = 5;
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var (publisher, receipts, disk) = await BacklogBehindAHeldDiskAsync(proxy, o => o.MaxInFlight = Window, 50, MqttQualityOfServiceLevel.AtLeastOnce);
        using (disk)
        {
            // Two windows' acknowledgements arrive, and their removal waits on the disk.
            Assert.True(await Subscriber.WaitForCountAsync(m => m.Topic == "sf/data", 2 * Window, Patience), Subscriber.Errors);
            await Subscriber.WaitForQuietAsync(TimeSpan.FromSeconds(1), Patience);
            Assert.True(disk.Waiting > 0, "the removal of the acknowledged messages never reached the disk");
            var sent = proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker).Count(p => p.Topic == "sf/data");
            Assert.True(sent == 2 * Window, $"{sent} messages sent with a window of {Window}:\n{string.Join("\n", proxy.Seen)}");
            Assert.Equal(2 * Window, ReceivedIndexes().Count);
            await ReleaseAndAssertDeliveredAsync(publisher, receipts, disk);
        }
    }

    [Fact]
    public async Task No_qos2_message_goes_out_before_its_sent_mark_is_durable_and_that_wait_does_not_count_against_the_ack_timeout()
    {
        var ackTimeout = TimeSpan.FromSeconds(1);
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var (publisher, receipts, disk) = await BacklogBehindAHeldDiskAsync(proxy, o => o.AckTimeout = ackTimeout, 20, MqttQualityOfServiceLevel.ExactlyOnce);
        using (disk)
        {
            // The first QoS 2 sends wait for their "sent" mark to be durable; the broker owes nothing meanwhile.
            while (!publisher.Status.IsConnected || disk.Waiting == 0)
                await Task.Delay(20);
            var connections = proxy.AcceptedConnections;
            await Task.Delay(ackTimeout * 3);
            Assert.Equal(connections, proxy.AcceptedConnections);
            Assert.DoesNotContain(proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker), p => p.Topic == "sf/data");

            await ReleaseAndAssertDeliveredAsync(publisher, receipts, disk);
            Assert.Equal(connections, proxy.AcceptedConnections);
        }
    }

    /// <summary>
    /// A publisher with a session already established through <paramref name="proxy"/>, a backlog stored while the broker
    /// was down, and every fsync held from the moment the broker is back.
    /// </summary>
    private async Task<(StoreForwardPublisher Publisher, PublishReceipt[] Receipts, HeldSync Disk)> BacklogBehindAHeldDiskAsync(
        MqttTcpProxy proxy, Action<StoreForwardOptions> configure, int count, MqttQualityOfServiceLevel qos)
    {
        var options = Options(proxy.Port);
        configure(options);
        var publisher = await StartPublisherAsync(options);
        await publisher.PublishAsync("sf/warm-up", Payload(0));
        await publisher.FlushAsync().WaitAsync(Patience);

        // The session exists, so resuming it needs no commit; the backlog waits for the broker.
        await Broker.StopAsync();
        var receipts = await PublishManyAsync(publisher, 0, count, qos);
        var disk = new HeldSync();
        await publisher.SetStorageFaultsForTests(disk);
        await Broker.StartAgainAsync();
        return (publisher, receipts, disk);
    }

    private async Task ReleaseAndAssertDeliveredAsync(StoreForwardPublisher publisher, PublishReceipt[] receipts, HeldSync disk)
    {
        disk.Release();
        await publisher.FlushAsync().WaitAsync(Patience);
        await publisher.SetStorageFaultsForTests(null);
        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }
}
