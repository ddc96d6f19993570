using System.Net.Sockets;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Proves the test infrastructure itself against the real Mosquitto, so that a failing
/// store-and-forward test can be trusted to be about the library, not about the harness.
/// </summary>
[Trait("Category", "Infrastructure")]
public sealed class InfrastructureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Subscriber_receives_qos1_message_published_through_proxy_and_proxy_sees_publish_and_puback()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var proxy = MqttTcpProxy.Start(broker.Host, broker.Port);
        await using var subscriber = await PersistentSubscriber.StartAsync(broker.Host, broker.Port, "sf/infra/#", "sf-infra-sub-1");

        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(proxy.Host, proxy.Port)
            .WithClientId("sf-infra-pub-1")
            .Build());

        var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic("sf/infra/a")
            .WithPayload("hello")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        Assert.True(result.IsSuccess, result.ReasonCode.ToString());

        Assert.True(await subscriber.WaitForCountAsync(1, Timeout));
        var message = Assert.Single(subscriber.Messages);
        Assert.Equal("sf/infra/a", message.Topic);
        Assert.Equal("hello", message.PayloadText);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, message.Qos);

        var publish = Assert.Single(proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker));
        var puback = Assert.Single(proxy.SeenOfType(MqttPacketType.PubAck, MqttProxyDirection.BrokerToClient));
        Assert.NotNull(publish.PacketId);
        Assert.Equal(publish.PacketId, puback.PacketId);
        Assert.Equal(result.PacketIdentifier, publish.PacketId);
        Assert.Equal(1, publish.Qos);
        Assert.False(publish.Dup);
        Assert.Equal("sf/infra/a", publish.Topic);
        Assert.Equal("sf-infra-pub-1", publish.ClientId);
        Assert.Equal(1, proxy.MaxOutstandingPublishes);
        Assert.Equal(0, proxy.OutstandingPublishes);
        Assert.Empty(proxy.Errors);

        // Mosquitto logs each received PUBLISH with its dup flag and message id.
        Assert.Contains(
            broker.LogLinesContaining("Received PUBLISH from sf-infra-pub-1"),
            l => l.Contains($"(d0, q1, r0, m{publish.PacketId}, 'sf/infra/a'", StringComparison.Ordinal));

        await publisher.DisconnectAsync();
    }

    [Fact]
    public async Task Graceful_restart_keeps_retained_message()
    {
        await using var broker = await MosquittoBroker.StartAsync();

        using (var publisher = new MqttClientFactory().CreateMqttClient())
        {
            await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(broker.Host, broker.Port).Build());
            await publisher.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic("sf/infra/retained")
                .WithPayload("kept")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithRetainFlag()
                .Build());
            await publisher.DisconnectAsync();
        }

        var portBefore = broker.Port;
        await broker.RestartAsync();

        Assert.Equal(portBefore, broker.Port);
        Assert.True(File.Exists(broker.PersistenceFile));

        // SIGTERM (not SIGKILL) reached the broker: it logs its orderly shutdown.
        Assert.NotEmpty(broker.LogLinesContaining("mosquitto version 2.0.11 terminating"));

        var retained = await PersistentSubscriber.ReadRetainedAsync(broker.Host, broker.Port, "sf/infra/retained", TimeSpan.FromMilliseconds(500));
        var message = Assert.Single(retained);
        Assert.Equal("kept", message.PayloadText);
        Assert.True(message.Retain);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500)]
    [InlineData(MqttProtocolVersion.V311)]
    public async Task Persistent_subscriber_reconnects_after_broker_kill_and_keeps_receiving(MqttProtocolVersion protocolVersion)
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var subscriber = await PersistentSubscriber.StartAsync(
            broker.Host, broker.Port, "sf/infra/kill", "sf-infra-sub-kill", MqttQualityOfServiceLevel.ExactlyOnce, protocolVersion);

        await broker.KillAsync();
        Assert.False(broker.IsRunning);
        await broker.StartAgainAsync();

        // Wait for the background loop to reconnect before publishing.
        var deadline = DateTime.UtcNow + Timeout;
        while (subscriber.ConnectCount < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(subscriber.ConnectCount >= 2, $"no reconnect: {subscriber.LastConnectError}");

        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(broker.Host, broker.Port).Build());
        await publisher.PublishStringAsync("sf/infra/kill", "after-kill", MqttQualityOfServiceLevel.ExactlyOnce);

        Assert.True(await subscriber.WaitForCountAsync(1, Timeout));
        Assert.Equal("after-kill", Assert.Single(subscriber.Messages).PayloadText);
        await subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(300), Timeout);
        Assert.Single(subscriber.Messages);
    }

    [Fact]
    public async Task Persistent_subscriber_gets_messages_queued_while_it_was_offline()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var proxy = MqttTcpProxy.Start(broker.Host, broker.Port);
        await using var subscriber = await PersistentSubscriber.StartAsync(proxy.Host, proxy.Port, "sf/infra/queued", "sf-infra-sub-queued");

        // Take the subscriber offline and keep it offline.
        proxy.RefuseConnections = true;
        proxy.ResetAllConnections();
        var deadline = DateTime.UtcNow + Timeout;
        while (subscriber.IsConnected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.False(subscriber.IsConnected);

        using (var publisher = new MqttClientFactory().CreateMqttClient())
        {
            await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(broker.Host, broker.Port).Build());
            await publisher.PublishStringAsync("sf/infra/queued", "while-offline", MqttQualityOfServiceLevel.AtLeastOnce);
            await publisher.DisconnectAsync();
        }

        Assert.Empty(subscriber.Messages);
        proxy.RefuseConnections = false;

        // The broker kept the session (CleanStart=false, Session Expiry 3600) and delivers on reconnect.
        Assert.True(await subscriber.WaitForCountAsync(1, Timeout), $"nothing after reconnect: {subscriber.LastConnectError}");
        Assert.Equal("while-offline", Assert.Single(subscriber.Messages).PayloadText);
        Assert.True(subscriber.ConnectCount >= 2);
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(1, 1)]
    [InlineData(0, null)]
    public async Task Max_inflight_messages_is_announced_as_receive_maximum_in_connack(int maxInflight, int? announced)
    {
        // Mosquitto 2.0.11 sends max_inflight_messages as the CONNACK Receive Maximum property; 0 (unlimited) sends
        // none, which means 65535.
        await using var broker = await MosquittoBroker.StartAsync(new MosquittoSettings { MaxInflightMessages = maxInflight });
        await using var proxy = MqttTcpProxy.Start(broker.Host, broker.Port);

        using var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(proxy.Host, proxy.Port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .Build());

        var connack = Assert.Single(proxy.SeenOfType(MqttPacketType.ConnAck));
        Assert.Equal((ushort?)announced, connack.ReceiveMaximum);

        // MQTTnet 5.2 reports an absent property as 0: code that reads it must treat 0 as "no limit".
        Assert.Equal((ushort)(announced ?? 0), result.ReceiveMaximum);
        Assert.Contains($"max_inflight_messages {maxInflight}", File.ReadAllText(Path.Combine(broker.DataDirectory, "mosquitto.conf")), StringComparison.Ordinal);
        await client.DisconnectAsync();
    }

    [Fact]
    public async Task Resent_publish_is_logged_with_dup_flag_and_same_message_id()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var proxy = MqttTcpProxy.Start(broker.Host, broker.Port);

        // Lose every PUBACK so the sender has a reason to re-send, as a real client would after
        // a reconnect. MQTTnet's IMqttClient does not re-send on its own, so speak raw MQTT 3.1.1.
        proxy.DropFromBroker = p => p.Type == MqttPacketType.PubAck;

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(proxy.Host, proxy.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(RawMqtt.Connect311("sf-infra-raw", cleanSession: false));
        var connack = new byte[4];
        await stream.ReadExactlyAsync(connack);
        Assert.Equal(0x20, connack[0]);
        Assert.Equal(0, connack[3]);

        await stream.WriteAsync(RawMqtt.Publish("sf/infra/dup", "x"u8.ToArray(), qos: 1, packetId: 7, dup: false));
        await stream.WriteAsync(RawMqtt.Publish("sf/infra/dup", "x"u8.ToArray(), qos: 1, packetId: 7, dup: true));

        var deadline = DateTime.UtcNow + Timeout;
        while (proxy.SeenOfType(MqttPacketType.PubAck).Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var pubacks = proxy.SeenOfType(MqttPacketType.PubAck, MqttProxyDirection.BrokerToClient);
        Assert.Equal(2, pubacks.Count);
        Assert.All(pubacks, p => Assert.True(p.Dropped));
        Assert.All(pubacks, p => Assert.Equal((ushort)7, p.PacketId));

        var publishes = proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker);
        Assert.Equal([false, true], publishes.Select(p => p.Dup));
        Assert.Equal(1, proxy.OutstandingPublishes);

        var logged = broker.LogLinesContaining("Received PUBLISH from sf-infra-raw").ToList();
        Assert.Contains(logged, l => l.Contains("(d0, q1, r0, m7, 'sf/infra/dup', ... (1 bytes))", StringComparison.Ordinal));
        Assert.Contains(logged, l => l.Contains("(d1, q1, r0, m7, 'sf/infra/dup', ... (1 bytes))", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Proxy_counts_outstanding_qos1_publishes_until_acknowledged()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var proxy = MqttTcpProxy.Start(broker.Host, broker.Port);

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(proxy.Host, proxy.Port)
            .WithClientId("sf-infra-flow")
            .WithTimeout(TimeSpan.FromSeconds(2))
            .Build());

        // Two acknowledged publishes: at most one outstanding at a time, none left.
        await client.PublishStringAsync("sf/infra/flow", "1", MqttQualityOfServiceLevel.AtLeastOnce);
        await client.PublishStringAsync("sf/infra/flow", "2", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(0, proxy.OutstandingPublishes);
        Assert.Equal(1, proxy.MaxOutstandingPublishes);

        // Lose the PUBACKs of three concurrent publishes: all three stay outstanding.
        proxy.DropFromBroker = p => p.Type == MqttPacketType.PubAck;
        var publishes = Enumerable.Range(0, 3)
            .Select(i => client.PublishStringAsync("sf/infra/flow", $"lost-ack-{i}", MqttQualityOfServiceLevel.AtLeastOnce))
            .ToArray();

        var deadline = DateTime.UtcNow + Timeout;
        while (proxy.SeenOfType(MqttPacketType.PubAck).Count(p => p.Dropped) < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(3, proxy.OutstandingPublishes);
        Assert.Equal(3, proxy.MaxOutstandingPublishes);

        // Cut the link so the client gives up on them; outstanding entries are session state and survive.
        proxy.ResetAllConnections();
        foreach (var publish in publishes)
        {
            await Assert.ThrowsAnyAsync<Exception>(() => publish);
        }

        Assert.Equal(3, proxy.OutstandingPublishes);
        proxy.ResetOutstandingCounters();
        Assert.Equal(0, proxy.MaxOutstandingPublishes);
    }

    [Fact]
    public async Task Proxy_reset_refuse_and_black_hole_break_the_link()
    {
        await using var broker = await MosquittoBroker.StartAsync();
        await using var proxy = MqttTcpProxy.Start(broker.Host, broker.Port);

        using var client = new MqttClientFactory().CreateMqttClient();
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.DisconnectedAsync += _ =>
        {
            disconnected.TrySetResult();
            return Task.CompletedTask;
        };

        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(proxy.Host, proxy.Port)
            .WithTimeout(TimeSpan.FromSeconds(2))
            .Build();

        // Reset: an established connection is torn down.
        await client.ConnectAsync(options);
        Assert.Equal(1, proxy.ActiveConnections);
        proxy.ResetAllConnections();
        await disconnected.Task.WaitAsync(Timeout);

        // Refuse: the TCP connect succeeds but the MQTT connect cannot.
        proxy.RefuseConnections = true;
        await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(options));
        proxy.RefuseConnections = false;

        // Black hole: connected, but a QoS 1 publish is never acknowledged.
        await client.ConnectAsync(options);
        proxy.BlackHole = true;
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
        {
            // MQTTnet surfaces the cancellation as MqttCommunicationTimedOutException.
            await Assert.ThrowsAnyAsync<Exception>(() => client.PublishStringAsync(
                "sf/infra/hole", "lost", MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken: cts.Token));
        }

        var lost = Assert.Single(proxy.SeenOfType(MqttPacketType.Publish));
        Assert.True(lost.Dropped);
        Assert.Equal(1, proxy.OutstandingPublishes);
        Assert.Empty(broker.LogLinesContaining("'sf/infra/hole'"));
        Assert.Empty(proxy.Errors);
    }
}
