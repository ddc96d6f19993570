using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// The client side of the MQTT session, kept across connections: which stored messages are in flight, and the next queued
/// messages loaded from the outbox.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>A message's packet id is derived from its sequence, so it is durable with the message. Two messages in flight
/// never share an id: a flight starts only when its sequence is less than 65,535 above the oldest message still committed
/// to the store, so an id is reused only after the removal of its previous owner is on disk.</item>
/// <item><c>_ready</c> holds never-sent messages in sequence order, all above every in-flight sequence unless a lost session
/// put in-flight messages back at its front.</item>
/// <item>Only the head of the queue is in memory: what is in flight plus at most two reads of queued messages (one of
/// them read ahead). A read ahead always continues from <c>LoadedThrough</c>.</item>
/// <item>After a failed session the in-memory state may differ from the disk, so it is dropped and read again.</item>
/// </list>
/// </remarks>
internal sealed class SessionState
{
    private readonly SortedDictionary<long, Flight> _inFlight = [];
    private readonly Dictionary<ushort, Flight> _byPacketId = [];
    private readonly LinkedList<OutboxMessage> _ready = new();
    private bool _loaded;
    private Task<List<OutboxMessage>>? _readAhead;

    /// <summary>
    /// How many messages the broker accepted in flight when it refused one with Quota exceeded although Receive Maximum
    /// allowed more (see <c>DeliverySession</c>); caps the window of later connections. Broker knowledge, so it survives
    /// <see cref="Invalidate"/>.
    /// </summary>
    public int? BrokerQuota { get; set; }

    /// <summary>The "sent" mark, read from the store with the in-flight head, so a session starts with it durable.</summary>
    public SentMarkLead SentMark { get; private set; } = new(0);

    /// <summary>The highest sequence loaded into memory; the store holds nothing unloaded at or below it.</summary>
    public long LoadedThrough { get; private set; }

    public int InFlightCount => _inFlight.Count;

    public IEnumerable<Flight> InFlightInOrder => _inFlight.Values;

    /// <summary>Reads the sent head of the outbox once: what may have been in flight when the app last stopped.</summary>
    public async Task EnsureLoadedAsync(GroupCommitWriter writer)
    {
        if (_loaded)
            return;

        var (region, sentThrough) = await writer.RunAsync(store => (store.ReadSentRegion(), store.SentThrough)).ConfigureAwait(false);
        foreach (var message in region)
        {
            if (message.Qos == MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce)
            {
                // A QoS 0 message leaves the store before it is sent, so one still here was never sent.
                _ready.AddLast(message);
            }
            else
            {
                Add(Flight.Resumed(message));
            }
        }

        LoadedThrough = sentThrough;
        SentMark = new SentMarkLead(sentThrough);
        _loaded = true;
    }

    /// <summary>Forgets everything in memory; the next session reads it again from the store.</summary>
    public void Invalidate()
    {
        // A read still running belongs to the state being dropped; its outcome, even a failure, no longer matters.
        _readAhead?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _readAhead = null;
        _inFlight.Clear();
        _byPacketId.Clear();
        _ready.Clear();
        LoadedThrough = 0;
        SentMark = new SentMarkLead(0);
        _loaded = false;
    }

    /// <summary>
    /// Appends the next <paramref name="max"/> stored messages after <see cref="LoadedThrough"/> to the ready queue: the
    /// read started by <see cref="ReadAheadIfLow"/> if there is one, else a new read.
    /// </summary>
    public async Task<int> LoadMoreAsync(GroupCommitWriter writer, int max)
    {
        var read = _readAhead ?? ReadAfterLoaded(writer, max);
        _readAhead = null;
        var next = await read.ConfigureAwait(false);
        foreach (var message in next)
            _ready.AddLast(message);
        if (next.Count > 0)
            LoadedThrough = next[^1].Sequence;
        return next.Count;
    }

    /// <summary>
    /// Starts reading the next <paramref name="max"/> messages when fewer than half that many are ready and more are on
    /// disk, so that the window never waits for a read: reads queue behind commits on the writer thread.
    /// </summary>
    public void ReadAheadIfLow(GroupCommitWriter writer, int max)
    {
        if (_readAhead is null && _ready.Count < max / 2 && writer.Snapshot.LastSequence > LoadedThrough)
            _readAhead = ReadAfterLoaded(writer, max);
    }

    /// <summary>Whether messages are stored that are not in memory yet (or are being read).</summary>
    public bool HasMoreToLoad(OutboxSnapshot committed) => _readAhead is not null || committed.LastSequence > LoadedThrough;

    private Task<List<OutboxMessage>> ReadAfterLoaded(GroupCommitWriter writer, int max)
    {
        var after = LoadedThrough;
        return writer.RunAsync(store => store.ReadAfter(after, max));
    }

    public bool TryPeekReady(out OutboxMessage message)
    {
        message = _ready.First?.Value!;
        return message is not null;
    }

    public void DropReadyHead() => _ready.RemoveFirst();

    public bool TryGetInFlight(ushort packetId, out Flight flight) => _byPacketId.TryGetValue(packetId, out flight!);

    /// <summary>
    /// Whether <paramref name="message"/> may fly now: its id must not belong to a message that is in flight or whose
    /// removal is not committed yet. <paramref name="oldestCommitted"/> is the oldest sequence in the committed store.
    /// </summary>
    public bool CanStartFlight(OutboxMessage message, long oldestCommitted) =>
        PacketIds.IsFree(message.Sequence, oldestCommitted) && !_byPacketId.ContainsKey(PacketIds.Of(message.Sequence));

    public void StartFlight(OutboxMessage message) => Add(Flight.First(message));

    /// <summary>The broker completed (or refused) the message: its packet id is free once the removal is committed.</summary>
    public void EndFlight(Flight flight)
    {
        _inFlight.Remove(flight.Sequence);
        _byPacketId.Remove(flight.PacketId);
    }

    /// <summary>
    /// The broker lost our session: every in-flight message goes back to the front of the queue to be published anew.
    /// Returns their flights so the caller can persist the change (forget recorded PUBRECs) before anything is sent.
    /// </summary>
    public List<Flight> ReturnInFlightToQueue()
    {
        var returned = _inFlight.Values.ToList();
        for (var i = returned.Count - 1; i >= 0; i--)
            _ready.AddFirst(returned[i].Message);

        _inFlight.Clear();
        _byPacketId.Clear();
        return returned;
    }

    private void Add(Flight flight)
    {
        _inFlight.Add(flight.Sequence, flight);
        _byPacketId.Add(flight.PacketId, flight);
    }
}
