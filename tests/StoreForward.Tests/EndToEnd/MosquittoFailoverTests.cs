using System.Diagnostics;
using System.Globalization;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;
using Xunit.Abstractions;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// Two independent Mosquitto brokers as primary and standby in <see cref="StoreForwardOptions.Servers"/>: the primary stops
/// mid-stream, the publisher fails over to the standby, the primary comes back and the publisher returns to it. Each
/// broker has a persistent subscriber of its own; together they must have every acknowledged message. The primary is
/// stopped gracefully: a SIGKILLed Mosquitto loses what it acknowledged since its last save, which is the broker's loss.
/// </summary>
[Trait("Category", "Broker")]
public sealed class MosquittoFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly TestDirectory _directory = new();
    private readonly string _clientId = "sf-pub-" + Guid.NewGuid().ToString("N")[..8];
    private MosquittoBroker _primary = null!;
    private MosquittoBroker _standby = null!;
    private MosquittoSubscriber _onPrimary = null!;
    private MosquittoSubscriber _onStandby = null!;

    public async Task InitializeAsync()
    {
        _primary = await MosquittoBroker.StartAsync();
        _standby = await MosquittoBroker.StartAsync();
        _onPrimary = await MosquittoSubscriber.StartAsync(_primary.Host, _primary.Port, "sf/#", "sf-sub-primary");
        _onStandby = await MosquittoSubscriber.StartAsync(_standby.Host, _standby.Port, "sf/#", "sf-sub-standby");
    }

    public async Task DisposeAsync()
    {
        await _onPrimary.DisposeAsync();
        await _onStandby.DisposeAsync();
        await _primary.DisposeAsync();
        await _standby.DisposeAsync();
        _directory.Dispose();
    }

    private string Primary => $"mqtt://127.0.0.1:{_primary.Port}";

    private string Standby => $"127.0.0.1:{_standby.Port}";

    private StoreForwardOptions Options() => new()
    {
        ClientId = _clientId,
        Servers = [Primary, Standby],
        FailbackInterval = TimeSpan.FromSeconds(1),
        StorePath = _directory.File("outbox.db"),
        KeepAlive = TimeSpan.FromSeconds(5),
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
    };

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task The_publisher_fails_over_to_the_standby_and_back_to_the_primary_and_loses_nothing(MqttQualityOfServiceLevel qos)
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(Options());
        await using var stream = SteadyProducer.Start(publisher, qos);
        await Eventually.ConnectedToAsync(publisher, Primary, Patience);

        await Eventually.TrueAsync(() => PayloadIndexes.On(_onPrimary.Messages).Count >= 100, "the primary's subscriber got 100 messages", Patience);
        var stopped = Stopwatch.StartNew();
        await _primary.StopAsync();
        await Eventually.ConnectedToAsync(publisher, "mqtt://" + Standby, Patience);
        var failover = stopped.Elapsed;

        await Eventually.TrueAsync(() => PayloadIndexes.On(_onStandby.Messages).Count >= 100, "the standby's subscriber got 100 messages", Patience);
        var started = Stopwatch.StartNew();
        await _primary.StartAgainAsync();
        await Eventually.ConnectedToAsync(publisher, Primary, Patience);
        var failback = started.Elapsed;
        var onPrimaryBefore = PayloadIndexes.On(_onPrimary.Messages).Count;
        await Eventually.TrueAsync(() => PayloadIndexes.On(_onPrimary.Messages).Count >= onPrimaryBefore + 100, "the primary got 100 more messages after the failback", Patience);

        var receipts = await stream.StopAsync();
        await publisher.FlushAsync().WaitAsync(Patience);
        await _onPrimary.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        await _onStandby.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);

        var onPrimary = PayloadIndexes.On(_onPrimary.Messages);
        var onStandby = PayloadIndexes.On(_onStandby.Messages);
        var all = onPrimary.Concat(onStandby).ToList();
        var missing = Enumerable.Range(0, receipts.Count).Except(all).ToList();
        var duplicates = all.GroupBy(i => i).Count(g => g.Count() > 1);

        // What each broker took in from the publisher: its first forward of each message (DUP=0) to its subscriber, so the
        // figure is free of Mosquitto's own redelivery to a subscriber across its restart.
        var intake = Intake(_primary, "sf-sub-primary") + Intake(_standby, "sf-sub-standby");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"QoS {(int)qos}: {receipts.Count} acknowledged; {onPrimary.Count} delivered on the primary, {onStandby.Count} on the standby; " +
            $"{missing.Count} lost; {duplicates} delivered twice; broker intake {intake} ({intake - receipts.Count} taken twice); " +
            $"failover {failover.TotalMilliseconds:0} ms after the primary stopped; failback {failback.TotalMilliseconds:0} ms after it started"));

        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged messages lost, first {string.Join(", ", missing.Take(10))}");
        Assert.Equal(0, publisher.Status.PendingMessages);
        Assert.Equal(Primary, publisher.Status.Server);

        // Only what was in flight when the primary stopped can reach both brokers; the hand-over back to the primary
        // waits for the standby to acknowledge everything in flight, so it adds none.
        Assert.InRange(intake - receipts.Count, 0, Options().MaxInFlight);
    }

    [Fact]
    public async Task Every_switch_to_another_broker_begins_by_clearing_its_session_and_each_message_arrives_once_where_it_was_acknowledged()
    {
        // The primary keeps a session from this visit; after the publisher went to the standby it is stale, and its QoS 2
        // ids could match new messages, so the way back must clear it.
        await using (var first = await StoreForwardPublisher.StartAsync(Options()))
        {
            await Eventually.ConnectedToAsync(first, Primary, Patience);
            for (var i = 0; i < 5; i++)
                await first.PublishAsync("sf/data", Payload(i), MqttQualityOfServiceLevel.ExactlyOnce);
            await first.FlushAsync().WaitAsync(Patience);
        }

        await _primary.StopAsync();
        await using (var second = await StoreForwardPublisher.StartAsync(Options()))
        {
            await Eventually.ConnectedToAsync(second, "mqtt://" + Standby, Patience);
            for (var i = 5; i < 10; i++)
                await second.PublishAsync("sf/data", Payload(i), MqttQualityOfServiceLevel.ExactlyOnce);
            await second.FlushAsync().WaitAsync(Patience);
            await _primary.StartAgainAsync();
            await Eventually.ConnectedToAsync(second, Primary, Patience);
            for (var i = 10; i < 15; i++)
                await second.PublishAsync("sf/data", Payload(i), MqttQualityOfServiceLevel.ExactlyOnce);
            await second.FlushAsync().WaitAsync(Patience);
        }

        // Every switch began with a clean connection to the broker switched to.
        Assert.Equal(2, _primary.LogLinesContaining($"as {_clientId} (p5, c1,").Count());
        Assert.Single(_standby.LogLinesContaining($"as {_clientId} (p5, c1,"));
        await _onPrimary.WaitForCountAsync(m => m.Topic == "sf/data", 10, Patience);
        await _onStandby.WaitForQuietAsync(TimeSpan.FromMilliseconds(300), Patience);
        Assert.Equal([.. Enumerable.Range(0, 5), .. Enumerable.Range(10, 5)], PayloadIndexes.On(_onPrimary.Messages).Order());
        Assert.Equal(Enumerable.Range(5, 5), PayloadIndexes.On(_onStandby.Messages).Order());
    }

    private static byte[] Payload(int index) => System.Text.Encoding.UTF8.GetBytes(index.ToString(CultureInfo.InvariantCulture));


    [Fact]
    public async Task A_store_from_before_brokers_were_recorded_keeps_its_session_with_one_broker_and_is_switched_cleanly_among_several()
    {
        var single = Options();
        single.Servers = [];
        single.Host = "127.0.0.1";
        single.Port = _primary.Port;
        await PublishOneAsync(single, 0);
        ForgetTheRecordedBroker();

        // One broker: the old store's session is with it, so it is resumed, not cleared.
        await PublishOneAsync(single, 1);
        Assert.Single(_primary.LogLinesContaining($"as {_clientId} (p5, c1,"));

        // Several independent servers: the old session may be with any of them, so it is cleared like a switch.
        ForgetTheRecordedBroker();
        await PublishOneAsync(Options(), 2);
        Assert.Equal(2, _primary.LogLinesContaining($"as {_clientId} (p5, c1,").Count());
        await _onPrimary.WaitForCountAsync(m => m.Topic == "sf/data", 3, Patience);
        Assert.Equal([0, 1, 2], PayloadIndexes.On(_onPrimary.Messages).Order());
    }

    private static async Task PublishOneAsync(StoreForwardOptions options, int index)
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(options);
        await publisher.PublishAsync("sf/data", Payload(index), MqttQualityOfServiceLevel.ExactlyOnce);
        await publisher.FlushAsync().WaitAsync(Patience);
    }

    /// <summary>Makes the store look as one written before the broker of its session was recorded (session, no server).</summary>
    private void ForgetTheRecordedBroker()
    {
        using var db = new LiteDB.LiteDatabase(_directory.File("outbox.db"));
        var meta = db.GetCollection("meta");
        var document = meta.FindAll().Single();
        Assert.True(document["session"].AsBoolean);
        document.Remove("server");
        meta.Update(document);
    }

    private static int Intake(MosquittoBroker broker, string subscriberId) =>
        broker.LogLinesContaining($"Sending PUBLISH to {subscriberId} (d0,").Count(l => l.Contains("'sf/data'", StringComparison.Ordinal));
}
