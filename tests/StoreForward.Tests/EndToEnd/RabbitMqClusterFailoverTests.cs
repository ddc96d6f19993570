using System.Diagnostics;
using System.Globalization;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;
using Xunit.Abstractions;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// A two-node RabbitMQ cluster on this machine, the distributed engine a user outgrows one broker with: the publisher
/// lists both nodes in <see cref="StoreForwardOptions.Servers"/>, the node it publishes through is stopped (gracefully,
/// or with SIGKILL) mid-stream, and it moves to the other node. A persistent-session subscriber on the surviving node
/// counts: every acknowledged message must be there, since RabbitMQ acknowledges a QoS 1 publish once the subscriber's
/// queue took it. Each way of stopping the node has a cluster of its own (a class fixture): a node brought back into a
/// two-node cluster takes long to serve MQTT again.
/// </summary>
[Trait("Category", "Broker")]
public abstract class RabbitMqClusterFailoverTests(RabbitMqClusterFixture rabbit, ITestOutputHelper output, bool kill) : IClassFixture<RabbitMqClusterFixture>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly TestDirectory _directory = new();

    public void Dispose()
    {
        _directory.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task The_publisher_moves_to_the_surviving_node_and_loses_nothing()
    {
        var (first, second) = (rabbit.Nodes[0], rabbit.Nodes[1]);
        await using var subscriber = await PersistentSubscriber.StartAsync(
            second.Host, second.MqttPort, "sf/#", "sf-sub-" + Guid.NewGuid().ToString("N")[..8], MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);
        await using var publisher = await StoreForwardPublisher.StartAsync(new StoreForwardOptions
        {
            ClientId = "sf-pub-" + Guid.NewGuid().ToString("N")[..8],
            Servers = [$"{first.Host}:{first.MqttPort}", $"{second.Host}:{second.MqttPort}"],
            ServersShareSessions = true,
            FailbackInterval = null,
            ProtocolVersion = MqttProtocolVersion.V311,
            StorePath = _directory.File("outbox.db"),
            KeepAlive = TimeSpan.FromSeconds(5),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        });
        await Eventually.ConnectedToAsync(publisher, $"mqtt://{first.Host}:{first.MqttPort}", Patience);

        await using var producer = SteadyProducer.Start(publisher, MqttQualityOfServiceLevel.AtLeastOnce);
        await Eventually.TrueAsync(() => PayloadIndexes.On(subscriber.Messages).Count >= 100, "the subscriber got 100 messages", Patience);
        var stopped = Stopwatch.StartNew();
        await (kill ? first.KillAsync() : first.StopAsync());
        await Eventually.ConnectedToAsync(publisher, $"mqtt://{second.Host}:{second.MqttPort}", Patience);
        var failover = stopped.Elapsed;
        var afterFailover = PayloadIndexes.On(subscriber.Messages).Count;
        await Eventually.TrueAsync(() => PayloadIndexes.On(subscriber.Messages).Count >= afterFailover + 100, "the subscriber got 100 messages after the failover", Patience);
        var receipts = await producer.StopAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        await subscriber.WaitForCountAsync(receipts.Count, Patience);
        await subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        var received = PayloadIndexes.On(subscriber.Messages);
        var missing = Enumerable.Range(0, receipts.Count).Except(received).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RabbitMQ cluster, {(kill ? "SIGKILL" : "graceful stop")} of the publisher's node: {receipts.Count} acknowledged, {missing.Count} lost, " +
            $"{received.Count - received.Distinct().Count()} delivered twice; on the other node {failover.TotalMilliseconds:0} ms after the stop"));

        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged messages lost, first {string.Join(", ", missing.Take(10))}");
        Assert.Equal(0, publisher.Status.PendingMessages);
    }
}

/// <summary>The publisher's node is stopped gracefully (<c>rabbitmqctl stop</c>).</summary>
public sealed class RabbitMqClusterNodeStopTests(RabbitMqClusterFixture rabbit, ITestOutputHelper output)
    : RabbitMqClusterFailoverTests(rabbit, output, kill: false);

/// <summary>The publisher's node is killed: SIGKILL of its Erlang VM.</summary>
public sealed class RabbitMqClusterNodeKillTests(RabbitMqClusterFixture rabbit, ITestOutputHelper output)
    : RabbitMqClusterFailoverTests(rabbit, output, kill: true);
