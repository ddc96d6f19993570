using System.Diagnostics;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Proves the RabbitMQ harness itself: a single node (<see cref="RabbitMqNodeFixture"/>) and a two-node cluster
/// (<see cref="RabbitMqClusterFixture"/>), both started once for this class and in parallel. Every test uses its own
/// topics and client ids; a test that stops or kills a node starts it again before it ends.
/// </summary>
[Trait("Category", "Broker")]
public sealed class RabbitMqHarnessTests(RabbitMqNodeFixture nodeFixture, RabbitMqClusterFixture clusterFixture, ITestOutputHelper output)
    : IClassFixture<RabbitMqNodeFixture>, IClassFixture<RabbitMqClusterFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private RabbitMqNode Node => nodeFixture.Node;

    [Fact]
    public async Task Qos1_message_published_on_the_node_reaches_a_subscriber_on_mqtt_311()
    {
        output.WriteLine($"node started in {nodeFixture.StartDuration.TotalSeconds:0.0} s, cluster formed in {clusterFixture.StartDuration.TotalSeconds:0.0} s");
        var topic = Unique("sf/rmq/pubsub");
        await using var subscriber = await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, topic + "/#", Unique("sf-rmq-sub"), MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);

        using var publisher = await ConnectPublisherAsync(Node);
        var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic + "/a")
            .WithPayload("hello")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        Assert.True(result.IsSuccess, result.ReasonCode.ToString());

        Assert.True(await subscriber.WaitForCountAsync(1, Timeout), Node.LogTail());
        var message = Assert.Single(subscriber.Messages);
        Assert.Equal(topic + "/a", message.Topic);
        Assert.Equal("hello", message.PayloadText);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, message.Qos);
        await publisher.DisconnectAsync();
    }

    [Fact]
    public async Task Qos2_publish_is_answered_with_puback_and_delivered_at_qos1()
    {
        var topic = Unique("sf/rmq/qos2");
        await using var subscriber = await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, topic, Unique("sf-rmq-sub"), MqttQualityOfServiceLevel.ExactlyOnce, MqttProtocolVersion.V311);

        // Raw MQTT 3.1.1: MQTTnet's client would wait for a PUBREC that never comes.
        using var tcp = new TcpClient(AddressFamily.InterNetwork);
        await tcp.ConnectAsync(Node.Host, Node.MqttPort);
        var stream = tcp.GetStream();
        using var timeout = new CancellationTokenSource(Timeout);
        await stream.WriteAsync(RawMqtt.Connect311(Unique("sf-rmq-raw"), cleanSession: true), timeout.Token);
        Assert.Equal([0x20, 0x02, 0x00, 0x00], await ReadPacketAsync(stream, timeout.Token));

        await stream.WriteAsync(RawMqtt.Publish(topic, "two"u8.ToArray(), qos: 2, packetId: 42), timeout.Token);
        var answer = await ReadPacketAsync(stream, timeout.Token);
        Assert.Equal(MqttPacketType.PubAck, answer[0] >> 4);
        Assert.Equal([0x40, 0x02, 0x00, 42], answer);
        await stream.WriteAsync(RawMqtt.Disconnect(), timeout.Token);

        Assert.True(await subscriber.WaitForCountAsync(1, Timeout), Node.LogTail());
        var message = Assert.Single(subscriber.Messages);
        Assert.Equal("two", message.PayloadText);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, message.Qos);
    }

    [Fact]
    public async Task Stop_and_start_again_keep_the_queued_qos1_messages_of_a_persistent_subscriber()
    {
        var topic = Unique("sf/rmq/restart");
        var subscriberId = Unique("sf-rmq-sub");

        // Creates the session (CleanSession=false) and its subscription, then leaves: messages queue up for it.
        await (await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, topic, subscriberId, MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311)).DisposeAsync();
        await PublishQos1Async(Node, topic, "q1", "q2", "q3");

        var port = Node.MqttPort;
        var vmBefore = Node.VmProcessId;
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await Node.StopAsync();
            output.WriteLine($"stop: {stopwatch.Elapsed.TotalSeconds:0.0} s");
            Assert.False(Node.IsRunning);
            await AssertPortClosedAsync(Node);
            Assert.Contains(Node.ConsoleLines, l => l.Contains("Gracefully halting Erlang VM", StringComparison.Ordinal));
        }
        finally
        {
            stopwatch.Restart();
            await Node.StartAgainAsync();
            output.WriteLine($"start again: {stopwatch.Elapsed.TotalSeconds:0.0} s");
        }

        Assert.Equal(port, Node.MqttPort);
        Assert.NotEqual(vmBefore, Node.VmProcessId);

        await using var subscriber = await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, topic, subscriberId, MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);
        Assert.True(await subscriber.WaitForCountAsync(3, Timeout), Node.LogTail());
        Assert.Equal(["q1", "q2", "q3"], subscriber.Messages.Select(m => m.PayloadText));
    }

    [Fact]
    public async Task Kill_ends_the_erlang_vm_and_start_again_serves_with_the_queued_qos1_messages()
    {
        var topic = Unique("sf/rmq/kill");
        var subscriberId = Unique("sf-rmq-sub");
        await (await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, topic, subscriberId, MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311)).DisposeAsync();
        await PublishQos1Async(Node, topic, "k1", "k2");

        var vm = Node.VmProcessId;
        Assert.NotNull(vm);
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await Node.KillAsync();
            output.WriteLine($"kill: {stopwatch.Elapsed.TotalSeconds:0.0} s");
            Assert.False(ErlangVm.IsAlive(vm.Value));
            Assert.False(Node.IsRunning);
            await AssertPortClosedAsync(Node);
        }
        finally
        {
            stopwatch.Restart();
            await Node.StartAgainAsync();
            output.WriteLine($"start again after kill: {stopwatch.Elapsed.TotalSeconds:0.0} s");
        }

        // PUBACK for QoS 1 comes after the message is on disk (publisher confirms), so it survives SIGKILL.
        await using var subscriber = await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, topic, subscriberId, MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);
        Assert.True(await subscriber.WaitForCountAsync(2, Timeout), Node.LogTail());
        Assert.Equal(["k1", "k2"], subscriber.Messages.Select(m => m.PayloadText));
    }

    [Fact]
    public async Task Cluster_delivers_a_message_published_on_node_1_to_a_subscriber_on_node_2()
    {
        var (node1, node2) = (clusterFixture.Nodes[0], clusterFixture.Nodes[1]);
        Assert.Equal(
            new[] { node1.NodeName, node2.NodeName }.Order(StringComparer.Ordinal),
            await RabbitMqCluster.RunningNodesAsync(node2));

        var topic = Unique("sf/rmq/cluster");
        await using var subscriber = await PersistentSubscriber.StartAsync(
            node2.Host, node2.MqttPort, topic, Unique("sf-rmq-sub"), MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);
        await PublishQos1Async(node1, topic, "across");

        Assert.True(await subscriber.WaitForCountAsync(1, Timeout), node1.LogTail() + node2.LogTail());
        Assert.Equal("across", Assert.Single(subscriber.Messages).PayloadText);
    }

    [Fact]
    public async Task Cluster_node_2_serves_while_node_1_is_stopped_and_node_1_rejoins_on_start_again()
    {
        var (node1, node2) = (clusterFixture.Nodes[0], clusterFixture.Nodes[1]);
        var topic = Unique("sf/rmq/failover");

        // The subscriber's queue lives on node 2, the node it connects to.
        await using var subscriber = await PersistentSubscriber.StartAsync(
            node2.Host, node2.MqttPort, topic, Unique("sf-rmq-sub"), MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);

        var stopwatch = Stopwatch.StartNew();
        try
        {
            await node1.StopAsync();
            output.WriteLine($"cluster node 1 stop: {stopwatch.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal([node2.NodeName], await RabbitMqCluster.RunningNodesAsync(node2));

            // A fresh client (CONNECT needs the client-id registry, which node 1 shared) publishes on node 2.
            await PublishQos1Async(node2, topic, "while-node-1-is-down");
            Assert.True(await subscriber.WaitForCountAsync(1, Timeout), node2.LogTail());
        }
        finally
        {
            stopwatch.Restart();
            await node1.StartAgainAsync();
            output.WriteLine($"cluster node 1 start again: {stopwatch.Elapsed.TotalSeconds:0.0} s");
            foreach (var line in node1.ConsoleLines.Where(l => l.StartsWith("[RabbitMqNode]", StringComparison.Ordinal)))
            {
                output.WriteLine(line);
            }
        }

        Assert.Equal(
            new[] { node1.NodeName, node2.NodeName }.Order(StringComparer.Ordinal),
            await RabbitMqCluster.RunningNodesAsync(node2));
        await PublishQos1Async(node1, topic, "after-rejoin");
        Assert.True(await subscriber.WaitForCountAsync(2, Timeout), node1.LogTail() + node2.LogTail());
        Assert.Equal(["while-node-1-is-down", "after-rejoin"], subscriber.Messages.Select(m => m.PayloadText));
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static async Task<IMqttClient> ConnectPublisherAsync(RabbitMqNode node)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        try
        {
            await client.ConnectAsync(new MqttClientOptionsBuilder()
                .WithTcpServer(node.Host, node.MqttPort)
                .WithProtocolVersion(MqttProtocolVersion.V311)
                .WithClientId(Unique("sf-rmq-pub"))
                .WithTimeout(Timeout)
                .Build());
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static async Task PublishQos1Async(RabbitMqNode node, string topic, params string[] payloads)
    {
        using var publisher = await ConnectPublisherAsync(node);
        foreach (var payload in payloads)
        {
            var result = await publisher.PublishStringAsync(topic, payload, MqttQualityOfServiceLevel.AtLeastOnce);
            Assert.True(result.IsSuccess, $"{payload}: {result.ReasonCode}");
        }

        await publisher.DisconnectAsync();
    }

    private static async Task AssertPortClosedAsync(RabbitMqNode node)
    {
        using var tcp = new TcpClient(AddressFamily.InterNetwork);
        await Assert.ThrowsAnyAsync<SocketException>(() => tcp.ConnectAsync(node.Host, node.MqttPort));
    }

    /// <summary>One whole MQTT packet: fixed header, remaining length (1-4 bytes), body.</summary>
    private static async Task<byte[]> ReadPacketAsync(NetworkStream stream, CancellationToken token)
    {
        var packet = new List<byte>();
        var one = new byte[1];
        await stream.ReadExactlyAsync(one, token);
        packet.Add(one[0]);

        var remaining = 0;
        var multiplier = 1;
        do
        {
            await stream.ReadExactlyAsync(one, token);
            packet.Add(one[0]);
            remaining += (one[0] & 0x7F) * multiplier;
            multiplier *= 128;
        }
        while ((one[0] & 0x80) != 0);

        var body = new byte[remaining];
        await stream.ReadExactlyAsync(body, token);
        packet.AddRange(body);
        return packet.ToArray();
    }
}
