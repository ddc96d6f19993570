using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Session;
using StoreForward.Tests.Infrastructure;
using StoreForward.Transport;

namespace StoreForward.Tests.Session;

/// <summary>
/// A delivery session against a broker the test plays by hand (<see cref="ScriptedBroker"/>), over a real store: packets
/// in, packets out, and what the store holds in between.
/// </summary>
public abstract class ScriptedSessionTest : IAsyncLifetime
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly TestDirectory _directory = new();
    private DeliverySession? _current;

    private protected SessionState State { get; } = new();

    private protected DeliveryCounters Counters { get; } = new();

    protected List<DeadLetter> DeadLetters { get; } = [];

    private protected OutboxStore Store { get; private set; } = null!;

    private protected GroupCommitWriter Writer { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Store = OutboxStore.Open(_directory.File("outbox.db"));
        Writer = new GroupCommitWriter(Store, TimeProvider.System);
        Writer.Committed += _ => Volatile.Read(ref _current)?.NotifyOutboxGrew();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Writer.DisposeAsync();
        Store.Dispose();
        _directory.Dispose();
    }

    /// <summary>Two QoS 2 messages in flight, the first one's PUBREC recorded, then the link breaks.</summary>
    protected async Task<long[]> TwoInFlightTheFirstReleasedThenTheLinkBreaksAsync()
    {
        var sequences = await AppendAsync(2, MqttQualityOfServiceLevel.ExactlyOnce);
        var first = new ScriptedBroker();
        var (_, run, _) = Start(first);
        var publishes = (await first.ExpectAsync(2)).Cast<MqttPublishPacket>().ToList();
        first.Answer(new MqttPubRecPacket { PacketIdentifier = publishes[0].PacketIdentifier });
        await first.ExpectAsync<MqttPubRelPacket>();
        first.Break();
        await Assert.ThrowsAsync<LinkLostException>(() => run);
        State.Invalidate();
        return sequences;
    }

    private protected (DeliverySession Session, Task Run, CancellationTokenSource Stop) Start(
        IBrokerLink broker, int maxInFlight = 10, int? maxPublishRate = null, PresenceOptions? presence = null,
        TimeProvider? time = null, IMqttCredentialsProvider? credentials = null)
    {
        var options = new StoreForwardOptions
        {
            ClientId = "scripted",
            StorePath = Store.FilePath,
            MaxInFlight = maxInFlight,
            MaxPublishRate = maxPublishRate,
            Presence = presence,
            TimeProvider = time ?? TimeProvider.System,
            CredentialsProvider = credentials,
            KeepAlive = TimeSpan.FromMinutes(10),
            AckTimeout = TimeSpan.FromMinutes(10),
        };
        var session = new DeliverySession(broker, State, Writer, LayerSettings.Engine(options).Session, Counters, d =>
        {
            lock (DeadLetters)
                DeadLetters.AddRange(d);
        });
        Volatile.Write(ref _current, session);
        var stop = new CancellationTokenSource();
        return (session, session.RunAsync(stop.Token), stop);
    }

    /// <summary>Stops the session as the publisher's stop does: the loop ends by the cancellation, and says goodbye.</summary>
    protected static async Task StopAsync(Task run, CancellationTokenSource stop)
    {
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Patience));
        stop.Dispose();
    }

    protected Task<long[]> AppendAsync(int count, MqttQualityOfServiceLevel qos) =>
        Writer.RunAsync(store => Enumerable.Range(0, count)
            .Select(i => store.Append("plant/t", [(byte)i], qos, false, DateTimeOffset.UtcNow))
            .ToArray());

    /// <summary>
    /// Gives a session that is about to do something wrong the time to do it, before the test checks that it did not:
    /// the session runs on other threads, so "nothing was sent" can only be seen after a pause.
    /// </summary>
    protected static Task SettleAsync() => Task.Delay(200);
}

