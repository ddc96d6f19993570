using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;
using Xunit.Abstractions;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// RabbitMQ 3.10's MQTT plugin: MQTT 3.1.1 only, QoS 0 and 1, a QoS 2 PUBLISH answered with PUBACK. Before StoreForward
/// took that PUBACK as the message's completion, a QoS 2 stream stalled for AckTimeout after every window. One node,
/// started once for the class; each test restarts it in the middle of a stream.
/// </summary>
[Trait("Category", "Broker")]
public sealed class RabbitMqDeliveryTests(RabbitMqNodeFixture rabbit, ITestOutputHelper output) : IClassFixture<RabbitMqNodeFixture>, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly TestDirectory _directory = new();
    private readonly string _clientId = "sf-pub-" + Guid.NewGuid().ToString("N")[..8];

    private RabbitMqNode Node => rabbit.Node;

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task A_stream_survives_a_RabbitMQ_restart_in_the_middle_and_nothing_stalls(MqttQualityOfServiceLevel qos)
    {
        await using var subscriber = await PersistentSubscriber.StartAsync(
            Node.Host, Node.MqttPort, "sf/#", "sf-sub-" + Guid.NewGuid().ToString("N")[..8], MqttQualityOfServiceLevel.AtLeastOnce, MqttProtocolVersion.V311);
        var logs = new FakeLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        await using var publisher = await StoreForwardPublisher.StartAsync(new StoreForwardOptions
        {
            ClientId = _clientId,
            Host = Node.Host,
            Port = Node.MqttPort,
            ProtocolVersion = MqttProtocolVersion.V311,
            StorePath = _directory.File("outbox.db"),
            KeepAlive = TimeSpan.FromSeconds(5),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            LoggerFactory = factory,
        });

        var clock = Stopwatch.StartNew();
        await using var producer = SteadyProducer.Start(publisher, qos);
        await Eventually.TrueAsync(() => PayloadIndexes.On(subscriber.Messages).Count >= 100, "the subscriber got 100 messages", Patience);
        await Node.RestartAsync();
        var afterRestart = PayloadIndexes.On(subscriber.Messages).Count;
        await Eventually.TrueAsync(() => PayloadIndexes.On(subscriber.Messages).Count >= afterRestart + 100, "the subscriber got 100 messages after the restart", Patience);
        var receipts = await producer.StopAsync();
        await publisher.FlushAsync().WaitAsync(Patience);
        await subscriber.WaitForCountAsync(receipts.Count, Patience);
        await subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);

        var received = PayloadIndexes.On(subscriber.Messages);
        var missing = Enumerable.Range(0, receipts.Count).Except(received).ToList();
        var duplicates = received.Count - received.Distinct().Count();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"QoS {(int)qos} through RabbitMQ with a restart: {receipts.Count} acknowledged, {missing.Count} lost, {duplicates} delivered twice, " +
            $"{publisher.Status.Downgraded} downgraded, all delivered {clock.Elapsed.TotalSeconds:0.0} s after the start"));

        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged messages lost, first {string.Join(", ", missing.Take(10))}");
        Assert.Equal(0, publisher.Status.PendingMessages);
        if (qos == MqttQualityOfServiceLevel.ExactlyOnce)
        {
            // Every QoS 2 message was completed by a PUBACK, each once; each connection warned once, naming the broker.
            Assert.Equal(receipts.Count, publisher.Status.Downgraded);
            var warnings = logs.Collector.GetSnapshot().Where(r => r.Id.Name == "QosDowngraded").ToList();
            Assert.InRange(warnings.Count, 2, publisher.ConnectAttempts);
            Assert.All(warnings, w => Assert.Contains($"127.0.0.1:{Node.MqttPort} answered a QoS 2 PUBLISH with PUBACK", w.Message, StringComparison.Ordinal));
        }
        else
        {
            Assert.Equal(0, publisher.Status.Downgraded);
        }
    }


}
