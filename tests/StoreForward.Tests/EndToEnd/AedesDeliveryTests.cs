using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;
using Xunit.Abstractions;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// The core delivery cases of <see cref="DeliveryTests"/> against a third broker implementation: aedes (Node.js, MQTT 3.1.1
/// only, default in-memory persistence), with the real library publishing and an MQTTnet subscriber with a persistent
/// session (CleanSession=false) receiving. Payloads are the publish index as text.
/// <para>
/// What aedes does differently from Mosquitto, and what these tests therefore expect:
/// <list type="bullet">
/// <item>Its in-memory persistence dies with the process: after a restart no session, no queued message, no retained
/// value and no inbound QoS 2 state is left. The publisher then sees Session Present = 0 and publishes its in-flight
/// messages anew; the copies aedes had already routed before it went down arrive twice.</item>
/// <item>It sets Session Present only for a client that has subscriptions, so the publisher (which never subscribes)
/// gets Session Present = 0 on every connect, even while aedes still holds the client's inbound QoS 2 state.</item>
/// <item>It routes an inbound QoS 2 message on PUBLISH and then drops a resend with the same packet id until PUBREL
/// comes, so a publisher that republishes with the same id (this library derives ids from sequences) is not routed
/// twice while the process lives and the PUBREL has not been handled.</item>
/// <item>It answers a QoS 1 PUBLISH with PUBACK before it routes the message, and on SIGTERM (aedes.close()) it
/// destroys every connection: a message it acknowledged but had not yet handed to the subscriber dies with it.</item>
/// <item>On DISCONNECT it destroys the socket at once, so acknowledgements it still owed for the packets just before
/// (PUBACK, and the PUBCOMP of a PUBREL it has already handled and forgotten) may never be sent. With Session
/// Present = 0 on the next connect those messages are published anew and routed again.</item>
/// </list>
/// After a broker restart the subscriber's session is gone too, and aedes drops what is routed before the subscriber has
/// subscribed again. So that this broker-side loss cannot pass for the library's, the publisher reaches aedes through a
/// <see cref="MqttTcpProxy"/> that refuses it while aedes is down and until the subscriber is back. The proxy only
/// forwards; it changes no packet.
/// </para>
/// </summary>
[Trait("Category", "Broker")]
public sealed class AedesDeliveryTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Topic = "sf/data";
    private const string Filter = "sf/#";

    private readonly List<IAsyncDisposable> _owned = [];
    private readonly TestDirectory _directory = new();
    private readonly string _clientId = "sf-pub-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _subscriberId = "sf-sub-" + Guid.NewGuid().ToString("N")[..8];

    private readonly ITestOutputHelper _output;

    private AedesBroker _broker = null!;
    private PersistentSubscriber _subscriber = null!;

    public AedesDeliveryTests(ITestOutputHelper output) => _output = output;

    public async Task InitializeAsync()
    {
        _broker = await AedesBroker.StartAsync();
        _subscriber = await PersistentSubscriber.StartAsync(
            _broker.Host, _broker.Port, Filter, _subscriberId, MqttQualityOfServiceLevel.ExactlyOnce, MqttProtocolVersion.V311);
    }

    public async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
            await _owned[i].DisposeAsync();
        await _subscriber.DisposeAsync();
        await _broker.DisposeAsync();
        _directory.Dispose();
    }

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task A_stream_from_concurrent_producers_is_delivered_complete_once_and_in_order(MqttQualityOfServiceLevel qos)
    {
        const int count = 2000;
        var publisher = await StartPublisherAsync(Options());

        var receipts = await BrokerTest.PublishManyAsync(publisher, 0, count, qos);
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(0, publisher.Status.PendingMessages);
        Assert.True(publisher.Status.IsConnected);

        // Nothing broke the links, so even QoS 0 and 1 must arrive exactly once.
        var received = await ReceivedWhenQuietAsync(count);
        AssertComplete(0, count, received);
        AssertNoDuplicates(received);
        AssertInSequenceOrder(0, receipts, received);

        // aedes took in each message once.
        var routed = RoutedIndexes();
        Assert.Equal(count, routed.Count);
        Assert.Equal(count, routed.Distinct().Count());
    }

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task A_broker_stop_and_start_mid_stream_loses_only_what_aedes_had_acknowledged_and_repeats_only_what_was_in_flight(MqttQualityOfServiceLevel qos)
    {
        const int count = 3000;
        await using var gate = MqttTcpProxy.Start(_broker.Host, _broker.Port);
        var options = Options(gate.Port);
        var publisher = await StartPublisherAsync(options);

        var publishing = BrokerTest.PublishManyAsync(publisher, 0, count, qos);
        Assert.True(await _subscriber.WaitForCountAsync(500, Patience), "the stream never got going");
        gate.RefuseConnections = true;
        await _broker.StopAsync();
        var firstLife = _broker.LogLines;
        var answeredBeforeStop = gate.Seen.Where(p => p.Direction == MqttProxyDirection.BrokerToClient).ToList();

        // Mid-stream: the subscriber had part of the stream when aedes went down.
        Assert.InRange(Received().Count, 500, count - 1);

        await StartAgainWithSubscriberBackAsync(gate);
        var receipts = await publishing;
        await publisher.FlushAsync().WaitAsync(Patience);
        Assert.Equal(0, publisher.Status.PendingMessages);

        // The library sent every message to aedes.
        var sent = PublishedIndexes(_broker.LogLines);
        Assert.Empty(Enumerable.Range(0, count).Except(sent));

        // Nothing is lost except what the first aedes had acknowledged (PUBACK, or PUBCOMP) and then lost with its
        // memory: on SIGTERM it closes every connection, and whatever it was still routing to the subscriber dies with
        // the process. At QoS 1 it answers PUBACK before it routes a message at all. Once the broker has acknowledged a
        // message the library rightly lets it go; anything else missing would be the library's loss.
        var acknowledgedBeforeStop = AcknowledgedIndexes(firstLife, answeredBeforeStop, qos);
        var received = await ReceivedWhenQuietAsync(Enumerable.Range(0, count).Except(acknowledgedBeforeStop));
        var missing = Enumerable.Range(0, count).Except(received).ToList();
        var lostByLibrary = missing.Except(acknowledgedBeforeStop).ToList();
        _output.WriteLine($"lost by aedes after acknowledging them: {missing.Count} [{string.Join(", ", missing.Take(20))}]");
        Assert.True(lostByLibrary.Count == 0,
            $"{lostByLibrary.Count} stored messages never arrived although aedes had not acknowledged them, first {string.Join(", ", lostByLibrary.Take(10))}");
        AssertInSequenceOrder(0, receipts, received);

        // aedes had no session for the publisher after the restart (nor before: see the class summary), so the library
        // published its in-flight messages anew. Those that the first aedes had routed already arrive a second time:
        // allowed, as the restart wiped what aedes knew of them. Anything else twice would be the library's doing.
        Assert.All(_broker.SessionPresentFlags(_clientId), present => Assert.False(present));
        var routedBeforeStop = RoutedIndexes(firstLife);
        var duplicates = received.GroupBy(i => i).Where(g => g.Count() > 1).ToList();
        _output.WriteLine($"in flight at the stop and delivered twice: {duplicates.Count}; sessions lost: {publisher.Status.SessionsLost}");
        Assert.All(duplicates, d => Assert.Equal(2, d.Count()));
        Assert.All(duplicates, d => Assert.Contains(d.Key, routedBeforeStop));
        Assert.InRange(duplicates.Count, 0, options.MaxInFlight);

        // Each aedes took in each message at most once: only the restart itself caused a second copy.
        Assert.Equal(routedBeforeStop.Count, routedBeforeStop.Distinct().Count());
        var routedAfterStart = RoutedIndexes(_broker.LogLines.Skip(firstLife.Count));
        Assert.Equal(routedAfterStart.Count, routedAfterStart.Distinct().Count());
    }

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task A_publisher_disposed_and_restarted_on_the_same_store_mid_stream_loses_nothing(MqttQualityOfServiceLevel qos)
    {
        const int first = 5000;
        const int second = 500;
        var options = Options();
        PublishReceipt[] firstReceipts;

        // The first publisher builds its backlog while the gate keeps it from aedes, so that the stream is in full flow,
        // with most of it still in the store, when the publisher is disposed.
        await using (var gate = MqttTcpProxy.Start(_broker.Host, _broker.Port))
        {
            gate.RefuseConnections = true;
            await using var publisher = await StoreForwardPublisher.StartAsync(Options(gate.Port));
            firstReceipts = await BrokerTest.PublishManyAsync(publisher, 0, first, qos);
            Assert.Equal(first, publisher.Status.PendingMessages);
            gate.RefuseConnections = false;
            Assert.True(await _subscriber.WaitForCountAsync(100, Patience), "the stream never got going");
        }

        var firstSessionEnd = _broker.LogLines.Count;
        var next = await StartPublisherAsync(options);

        // Mid-stream: the first publisher left messages in the store for the next one.
        Assert.InRange(next.Status.PendingMessages, 1, first - 1);
        var secondReceipts = await BrokerTest.PublishManyAsync(next, first, second, qos);
        await next.FlushAsync().WaitAsync(Patience);
        Assert.Equal(0, next.Status.PendingMessages);

        var received = await ReceivedWhenQuietAsync(first + second);
        AssertComplete(0, first + second, received);
        AssertInSequenceOrder(0, [.. firstReceipts, .. secondReceipts], received);

        // aedes answers the new connection with Session Present = 0 (the publisher has no subscriptions), so the library
        // publishes what was in flight anew, with the same packet ids. aedes drops a QoS 2 resend whose id still awaits
        // PUBREL; but it destroys the link on DISCONNECT without sending the acknowledgements it still owed for the packets
        // just before, so a message whose PUBREL it handled (and forgot) without its PUBCOMP reaching the publisher is
        // routed again. At QoS 1 a message whose PUBACK did not make it back before the DISCONNECT comes again. Disposing
        // gives the broker up to a second to acknowledge what is in flight before DISCONNECT, so usually none repeats (0 in
        // 8 runs, against up to 11 before it waited); under load a few may. Nothing else may repeat, and no more than the
        // window.
        Assert.All(_broker.SessionPresentFlags(_clientId), present => Assert.False(present));
        var lines = _broker.LogLines;
        var boundary = Enumerable.Range(firstSessionEnd, lines.Count - firstSessionEnd)
            .First(i => lines[i] == $"client {_clientId}");
        var firstSession = lines.Take(boundary).ToList();
        var routedInFirstSession = RoutedIndexes(firstSession).ToHashSet();
        var releasedInFirstSession = firstSession
            .Where(l => l.StartsWith($"released {_clientId} ", StringComparison.Ordinal))
            .Select(l => int.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)).ToHashSet();
        var packetIdOf = _broker.PublishesFrom(_clientId).Where(p => p.Topic == Topic)
            .GroupBy(p => Index(p.PayloadText)).ToDictionary(g => g.Key, g => g.Select(p => p.MessageId).Distinct().Single());

        var duplicates = received.GroupBy(i => i).Where(g => g.Count() > 1).ToList();
        _output.WriteLine($"delivered twice across the publisher restart: {duplicates.Count} [{string.Join(", ", duplicates.Select(d => d.Key))}]; sessions lost: {next.Status.SessionsLost}");
        Assert.All(duplicates, d => Assert.Equal(2, d.Count()));
        Assert.All(duplicates, d => Assert.Contains(d.Key, routedInFirstSession));
        if (qos == MqttQualityOfServiceLevel.ExactlyOnce)
            Assert.All(duplicates, d => Assert.Contains(packetIdOf[d.Key], releasedInFirstSession));
        Assert.InRange(duplicates.Count, 0, options.MaxInFlight);
    }

    [Fact]
    public async Task A_publish_while_aedes_is_down_is_stored_and_delivered_once_it_is_up()
    {
        await using var gate = MqttTcpProxy.Start(_broker.Host, _broker.Port);
        var publisher = await StartPublisherAsync(Options(gate.Port));
        var before = await publisher.PublishAsync(Topic, BrokerTest.Payload(0), MqttQualityOfServiceLevel.ExactlyOnce);
        await publisher.FlushAsync().WaitAsync(Patience);

        // Stop only once the subscriber has it: a message aedes still owes the subscriber when it stops is gone with
        // its memory (the publisher's PUBCOMP does not wait for the subscriber's leg), and that would be aedes' loss.
        Assert.True(await _subscriber.WaitForCountAsync(1, Patience), "the first message never arrived");
        gate.RefuseConnections = true;
        await _broker.StopAsync();
        await Eventually.TrueAsync(() => !publisher.Status.IsConnected, "the publisher never noticed aedes was gone", Patience);

        var whileDown = new List<PublishReceipt>();
        for (var i = 1; i <= 100; i++)
            whileDown.Add(await publisher.PublishAsync(Topic, BrokerTest.Payload(i), (MqttQualityOfServiceLevel)(1 + (i % 2))));
        Assert.Equal(100, publisher.Status.PendingMessages);
        Assert.False(publisher.Status.IsConnected);

        await StartAgainWithSubscriberBackAsync(gate);
        await publisher.FlushAsync().WaitAsync(Patience);
        Assert.Equal(0, publisher.Status.PendingMessages);
        Assert.True(publisher.Status.IsConnected);

        // Nothing was in flight when aedes went down, so nothing comes twice.
        var received = await ReceivedWhenQuietAsync(101);
        AssertComplete(0, 101, received);
        AssertNoDuplicates(received);
        AssertInSequenceOrder(0, [before, .. whileDown], received, orderGroupOf: i => i == 0 ? 0 : 1 + (i % 2));
    }

    /// <summary>
    /// What the other cases rely on: aedes with its default persistence keeps nothing across a restart, crash or not. A
    /// retained value is gone, and so is the subscriber's session (Session Present = 0 on its reconnect).
    /// </summary>
    [Fact]
    public async Task Aedes_keeps_no_retained_value_and_no_session_across_a_restart()
    {
        var publisher = await StartPublisherAsync(Options());
        await publisher.PublishAsync("sf/plant/temperature", "21.5"u8.ToArray(), MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await publisher.FlushAsync().WaitAsync(Patience);
        var before = await ReadRetainedAsync("sf/plant/temperature");
        Assert.Equal("21.5", Assert.Single(before));
        Assert.Equal([false], _broker.SessionPresentFlags(_subscriberId));

        await _broker.KillAsync();
        var subscribed = SubscribeLines();
        await _broker.StartAgainAsync();
        await Eventually.TrueAsync(() => SubscribeLines() > subscribed, () => $"the subscriber did not subscribe again: {_subscriber.LastConnectError}", Patience);

        Assert.Empty(await ReadRetainedAsync("sf/plant/temperature"));
        Assert.Equal([false, false], _broker.SessionPresentFlags(_subscriberId));
    }

    [Fact]
    public async Task A_publisher_asking_for_MQTT_5_is_told_that_aedes_speaks_MQTT_3_1_1_and_keeps_its_messages()
    {
        var options = Options();
        options.ProtocolVersion = MqttProtocolVersion.V500;
        var publisher = await StartPublisherAsync(options);
        await publisher.PublishAsync(Topic, BrokerTest.Payload(0), MqttQualityOfServiceLevel.AtLeastOnce);

        await Eventually.TrueAsync(
            () => publisher.Status.LastConnectionError?.Contains("set ProtocolVersion = V311", StringComparison.Ordinal) == true,
            () => $"the error names the protocol version (it is: {publisher.Status.LastConnectionError})",
            Patience);
        Assert.Equal(1, publisher.Status.PendingMessages);
    }

    private async Task<List<string>> ReadRetainedAsync(string topic) =>
        [.. (await PersistentSubscriber.ReadRetainedAsync(_broker.Host, _broker.Port, topic, TimeSpan.FromSeconds(1), MqttProtocolVersion.V311)).Select(m => m.PayloadText)];

    private StoreForwardOptions Options(int? port = null) =>
        new()
        {
            ClientId = _clientId,
            Host = "127.0.0.1",
            Port = port ?? _broker.Port,
            StorePath = _directory.File("outbox.db"),
            ProtocolVersion = MqttProtocolVersion.V311,
            KeepAlive = TimeSpan.FromSeconds(5),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };

    private async Task<StoreForwardPublisher> StartPublisherAsync(StoreForwardOptions options)
    {
        var publisher = await StoreForwardPublisher.StartAsync(options);
        _owned.Add(publisher);
        return publisher;
    }

    /// <summary>
    /// Starts aedes again and lets the publisher in only once the subscriber has subscribed anew (aedes forgot its
    /// session): what aedes routes before that reaches no one, and that would be aedes' loss, not the library's.
    /// </summary>
    private async Task StartAgainWithSubscriberBackAsync(MqttTcpProxy gate)
    {
        var subscribed = SubscribeLines();
        await _broker.StartAgainAsync();
        await Eventually.TrueAsync(() => SubscribeLines() > subscribed, () => $"the subscriber did not subscribe again: {_subscriber.LastConnectError}", Patience);
        gate.RefuseConnections = false;
    }

    private int SubscribeLines() => _broker.LogLinesContaining($"subscribe {_subscriberId} ").Count();

    private static int Index(string payload) => int.Parse(payload, CultureInfo.InvariantCulture);

    /// <summary>The indexes the subscriber received on the data topic, in arrival order (duplicates kept).</summary>
    private List<int> Received() => PayloadIndexes.On(_subscriber.Messages, Topic);

    /// <summary>Waits (bounded) for <paramref name="count"/> messages and then for quiet, so late duplicates are counted too.</summary>
    private Task<List<int>> ReceivedWhenQuietAsync(int count) => ReceivedWhenQuietAsync(Enumerable.Range(0, count));

    /// <summary>Waits (bounded) until every one of <paramref name="expected"/> has arrived, then for quiet.</summary>
    private async Task<List<int>> ReceivedWhenQuietAsync(IEnumerable<int> expected)
    {
        var waitingFor = expected.ToHashSet();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (System.Diagnostics.Stopwatch.GetElapsedTime(started) < Patience)
        {
            waitingFor.ExceptWith(Received());
            if (waitingFor.Count == 0)
                break;
            await Task.Delay(20);
        }

        await _subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        return Received();
    }

    /// <summary>The indexes of the publisher's messages that aedes accepted and routed, as its log shows them.</summary>
    private List<int> RoutedIndexes(IEnumerable<string>? lines = null) =>
    [
        .. (lines ?? _broker.LogLines).Select(AedesPublish.ParseRouted).OfType<AedesPublish>()
            .Where(p => p.ClientId == _clientId && p.Topic == Topic).Select(p => Index(p.PayloadText)),
    ];

    /// <summary>The indexes of the publisher's PUBLISH packets that reached aedes (resends included), as its log shows them.</summary>
    private List<int> PublishedIndexes(IEnumerable<string> lines) =>
    [
        .. lines.Select(AedesPublish.ParseReceived).OfType<AedesPublish>()
            .Where(p => p.ClientId == _clientId && p.Topic == Topic).Select(p => Index(p.PayloadText)),
    ];

    /// <summary>
    /// The indexes whose delivery aedes completed towards the publisher (PUBACK for QoS 1, PUBCOMP for QoS 2), from the
    /// packets the proxy passed back to it and the packet ids aedes logged for each payload.
    /// </summary>
    private HashSet<int> AcknowledgedIndexes(IReadOnlyList<string> lines, IEnumerable<MqttProxyPacket> answers, MqttQualityOfServiceLevel qos)
    {
        var indexOf = lines.Select(AedesPublish.ParseReceived).OfType<AedesPublish>()
            .Where(p => p.ClientId == _clientId && p.Topic == Topic)
            .GroupBy(p => p.MessageId).ToDictionary(g => g.Key, g => Index(g.First().PayloadText));
        var completion = qos == MqttQualityOfServiceLevel.AtLeastOnce ? MqttPacketType.PubAck : MqttPacketType.PubComp;
        return [.. answers.Where(p => p.Type == completion && p.PacketId is { } id && indexOf.ContainsKey(id)).Select(p => indexOf[p.PacketId!.Value])];
    }

    private static void AssertComplete(int first, int count, List<int> received)
    {
        var missing = Enumerable.Range(first, count).Except(received).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} stored messages never arrived, first {string.Join(", ", missing.Take(10))}");
        var unexpected = received.Where(i => i < first || i >= first + count).Distinct().ToList();
        Assert.True(unexpected.Count == 0, $"messages that were never published arrived: {string.Join(", ", unexpected.Take(10))}");
    }

    private static void AssertNoDuplicates(List<int> received)
    {
        var duplicates = received.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"{duplicates.Count} messages arrived more than once, first {string.Join(", ", duplicates.Take(10))}");
    }

    /// <summary>
    /// First deliveries came in the order of the receipts' sequences, within each <paramref name="orderGroupOf"/> group
    /// (MQTT orders per QoS level only).
    /// </summary>
    private static void AssertInSequenceOrder(int first, PublishReceipt[] receipts, List<int> received, Func<int, int>? orderGroupOf = null)
    {
        foreach (var group in received.Distinct().GroupBy(i => orderGroupOf?.Invoke(i) ?? 0))
        {
            var sequences = group.Select(i => receipts[i - first].Sequence).ToList();
            var outOfOrder = sequences.Zip(sequences.Skip(1)).Count(p => p.Second < p.First);
            Assert.True(outOfOrder == 0, $"{outOfOrder} messages arrived before an earlier-stored one");
        }
    }
}
