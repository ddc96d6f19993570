using System.Diagnostics;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;
using Xunit.Abstractions;

namespace StoreForward.Tests.EndToEnd;

/// <summary>Network faults between publisher and broker, made by an MQTT-aware proxy: none may lose a message or stall the drain.</summary>
[Trait("Category", "Fault")]
public sealed class LinkFaultTests(ITestOutputHelper output) : BrokerTest
{
    [Fact]
    public async Task A_half_open_link_is_declared_dead_by_the_keep_alive_and_the_backlog_flows_once_it_heals()
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var options = Options(proxy.Port);
        options.KeepAlive = TimeSpan.FromSeconds(2);
        var publisher = await StartPublisherAsync(options);
        var before = await PublishManyAsync(publisher, 0, 20, MqttQualityOfServiceLevel.ExactlyOnce, producers: 1);
        await publisher.FlushAsync().WaitAsync(Patience);

        proxy.BlackHole = true;
        var silentSince = Stopwatch.GetTimestamp();
        var during = await PublishManyAsync(publisher, 20, 20, MqttQualityOfServiceLevel.ExactlyOnce, producers: 1);
        for (var i = 0; i < 400 && publisher.Status.IsConnected; i++)
            await Task.Delay(25);
        Assert.False(publisher.Status.IsConnected);

        // A figure, not an assertion: the design bound is 1.125 × keep-alive (checked every eighth of it).
        output.WriteLine($"half-open link declared dead after {Stopwatch.GetElapsedTime(silentSince).TotalSeconds:0.00} s with keep-alive {options.KeepAlive.TotalSeconds} s");
        Assert.Contains("keep-alive", publisher.Status.LastConnectionError, StringComparison.Ordinal);

        proxy.BlackHole = false;
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [.. before, .. during], exactlyOnce: true);
    }

    [Fact]
    public async Task A_publish_the_broker_never_answers_is_resent_on_a_new_connection_after_the_ack_timeout()
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var swallowed = 0;
        proxy.DropFromBroker = p => p.Type == MqttPacketType.PubAck && Interlocked.Exchange(ref swallowed, 1) == 0;
        var options = Options(proxy.Port);
        options.AckTimeout = TimeSpan.FromSeconds(2);
        var publisher = await StartPublisherAsync(options);

        var receipts = await PublishManyAsync(publisher, 0, 5, MqttQualityOfServiceLevel.AtLeastOnce, producers: 1);
        await publisher.FlushAsync().WaitAsync(Patience);

        // The link stayed healthy (pings answered): only the missing PUBACK made the session reconnect and resend.
        Assert.True(proxy.AcceptedConnections >= 3, $"{proxy.AcceptedConnections} connections");
        Assert.Contains(proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker), p => p.Dup);
        await AssertDeliveredAsync(0, receipts, exactlyOnce: false);
    }

    [Fact]
    public async Task A_link_that_flaps_every_few_hundred_milliseconds_loses_nothing_and_the_drain_finishes()
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var publisher = await StartPublisherAsync(Options(proxy.Port));
        var random = new Random(Environment.TickCount);

        var publishing = PublishManyAsync(publisher, 0, 3000, MqttQualityOfServiceLevel.ExactlyOnce);
        // At least 8 flaps: a fast enqueue must not end the flapping before it began.
        for (var flap = 0; flap < 20 && (flap < 8 || !publishing.IsCompleted); flap++)
        {
            // Down: the link breaks and new connections are refused for a moment; then up again.
            proxy.RefuseConnections = true;
            proxy.ResetAllConnections();
            await Task.Delay(random.Next(50, 300));
            proxy.RefuseConnections = false;
            await Task.Delay(random.Next(100, 400));
        }

        var receipts = await publishing;
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.True(proxy.AcceptedConnections > 5, $"{proxy.AcceptedConnections} connections");
        await AssertDeliveredAsync(0, receipts, exactlyOnce: false);
        Assert.Equal(receipts.Length, BrokerIntake());
    }

    [Fact]
    public async Task A_link_that_stalls_in_the_middle_of_a_packet_is_declared_dead_and_the_stream_completes()
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var stalls = 0;
        proxy.StallFromClient = p => p.Type == MqttPacketType.Publish && p.PacketId == 50 && Interlocked.Exchange(ref stalls, 1) == 0;
        var options = Options(proxy.Port);
        options.KeepAlive = TimeSpan.FromSeconds(2);
        var publisher = await StartPublisherAsync(options);

        var receipts = await PublishManyAsync(publisher, 0, 200, MqttQualityOfServiceLevel.ExactlyOnce, producers: 1);
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(1, stalls);
        Assert.True(proxy.AcceptedConnections >= 3, $"{proxy.AcceptedConnections} connections");
        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }

    [Fact]
    public async Task Reset_connections_mid_stream_lose_nothing()
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        var publisher = await StartPublisherAsync(Options(proxy.Port));

        var publishing = PublishManyAsync(publisher, 0, 2000, MqttQualityOfServiceLevel.ExactlyOnce);
        for (var cut = 0; cut < 5 && !publishing.IsCompleted; cut++)
        {
            await Task.Delay(150);
            proxy.ResetAllConnections();
        }

        var receipts = await publishing;
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.True(proxy.AcceptedConnections > 1);
        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }
}
