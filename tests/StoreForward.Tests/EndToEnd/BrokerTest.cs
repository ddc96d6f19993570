using System.Text;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// A real Mosquitto started for one test, a persistent-session subscriber on it, and a store folder: the parts every
/// end-to-end test needs. Payloads are the publish index as text, so the subscriber's record can be checked message by
/// message against the receipts.
/// </summary>
public abstract class BrokerTest : IAsyncLifetime
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly MosquittoSettings? _settings;
    private readonly List<IAsyncDisposable> _owned = [];

    protected BrokerTest(MosquittoSettings? settings = null) => _settings = settings;

    protected TestDirectory Directory { get; } = new();

    protected MosquittoBroker Broker { get; private set; } = null!;

    protected MosquittoSubscriber Subscriber { get; private set; } = null!;

    protected string ClientId { get; } = "sf-pub-" + Guid.NewGuid().ToString("N")[..8];

    protected string SubscriberId { get; } = "sf-sub-" + Guid.NewGuid().ToString("N")[..8];

    protected string StorePath => Directory.File("outbox.db");

    public virtual async Task InitializeAsync()
    {
        Broker = await MosquittoBroker.StartAsync(_settings);
        Subscriber = await MosquittoSubscriber.StartAsync(Broker.Host, Broker.Port, "sf/#", SubscriberId);
    }

    public virtual async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
            await _owned[i].DisposeAsync();
        await Subscriber.DisposeAsync();
        await Broker.DisposeAsync();
        Directory.Dispose();
    }

    /// <summary>Options for a publisher on <paramref name="port"/> (the broker's unless a proxy sits between).</summary>
    protected StoreForwardOptions Options(int? port = null, MqttProtocolVersion version = MqttProtocolVersion.V500) =>
        new()
        {
            ClientId = ClientId,
            Host = "127.0.0.1",
            Port = port ?? Broker.Port,
            StorePath = StorePath,
            ProtocolVersion = version,
            KeepAlive = TimeSpan.FromSeconds(5),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };

    protected async Task<StoreForwardPublisher> StartPublisherAsync(StoreForwardOptions options)
    {
        var publisher = await StoreForwardPublisher.StartAsync(options);
        _owned.Add(publisher);
        return publisher;
    }

    internal static byte[] Payload(int index) => Encoding.UTF8.GetBytes(index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Publishes <paramref name="count"/> messages from <paramref name="producers"/> concurrent producers.</summary>
    internal static async Task<PublishReceipt[]> PublishManyAsync(
        StoreForwardPublisher publisher, int first, int count, MqttQualityOfServiceLevel qos, int producers = 4, string topic = "sf/data")
    {
        var receipts = new PublishReceipt[count];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
                receipts[i] = await publisher.PublishAsync(topic, Payload(first + i), qos);
        })));
        return receipts;
    }

    /// <summary>The indexes the subscriber received on <paramref name="topic"/>, in arrival order.</summary>
    protected List<int> ReceivedIndexes(string topic = "sf/data") =>
        Subscriber.Messages.Where(m => m.Topic == topic)
            .Select(m => int.Parse(m.PayloadText, System.Globalization.CultureInfo.InvariantCulture))
            .ToList();

    /// <summary>
    /// How many messages on <paramref name="topic"/> the broker took in, judged by its log: it forwards each message it
    /// accepted to the subscriber exactly once as a fresh PUBLISH (DUP=0); its resends after a restart carry DUP=1. This
    /// counts what the broker received independent of how well the subscriber copes with those resends.
    /// </summary>
    protected int BrokerIntake(string topic = "sf/data") =>
        Broker.LogLinesContaining($"Sending PUBLISH to {SubscriberId} (d0,").Count(l => l.Contains($"'{topic}'", StringComparison.Ordinal));

    /// <summary>
    /// The PUBLISH packets on <paramref name="topic"/> the broker received from the publisher, as its log shows them
    /// (<c>d0, q1, r0, m5, 'sf/data'</c>): what reached the broker, also while no subscriber was there to see it.
    /// </summary>
    protected List<string> PublishesFromPublisher(string topic = "sf/data") =>
        [.. Broker.LogLinesContaining($"Received PUBLISH from {ClientId} (").Where(l => l.Contains($"'{topic}'", StringComparison.Ordinal))];

    /// <summary>
    /// Checks the subscriber's record against the receipts: every acknowledged publish arrived, none twice (when
    /// <paramref name="exactlyOnce"/>), and first deliveries came in the order of the publishes' sequences.
    /// </summary>
    protected async Task AssertDeliveredAsync(
        int first, PublishReceipt[] receipts, bool exactlyOnce, string topic = "sf/data", Func<int, int>? orderGroupOf = null)
    {
        await Subscriber.WaitForCountAsync(m => m.Topic == topic, receipts.Length, Patience);
        await Subscriber.WaitForQuietAsync(TimeSpan.FromMilliseconds(500), Patience);
        var received = ReceivedIndexes(topic);

        var missing = Enumerable.Range(first, receipts.Length).Except(received).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged messages lost, first {string.Join(", ", missing.Take(10))} {Subscriber.Errors}");
        if (exactlyOnce)
        {
            var duplicates = received.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(duplicates.Count == 0, $"{duplicates.Count} duplicates, first {string.Join(", ", duplicates.Take(10))}");
        }

        // MQTT orders messages per QoS level only (a broker forwards QoS 0 at once and QoS 2 after PUBREL), so mixed
        // streams are checked per group.
        foreach (var group in received.Distinct().GroupBy(i => orderGroupOf?.Invoke(i) ?? 0))
        {
            var sequences = group.Select(i => receipts[i - first].Sequence).ToList();
            var outOfOrder = sequences.Zip(sequences.Skip(1)).Count(p => p.Second < p.First);
            Assert.True(outOfOrder == 0, $"{outOfOrder} messages arrived before an earlier-stored one");
        }
    }
}
