using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// The client side of the MQTT session, kept across connections: which stored messages are in flight under which packet
/// id, and the next queued messages loaded from the outbox.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Every in-flight message has a unique non-zero packet id, and its id and state were committed to the outbox
/// before any packet carrying them was sent. A packet id is reused only after its message completed.</item>
/// <item><c>_ready</c> holds queued messages in sequence order, all above every in-flight sequence unless a lost session
/// put in-flight messages back at its front.</item>
/// <item>Only the head of the queue is in memory: at most the in-flight window plus one read of queued messages.</item>
/// <item>After a failed store write the in-memory state may differ from the disk, so it is dropped and read again.</item>
/// </list>
/// </remarks>
internal sealed class SessionState
{
    private readonly SortedDictionary<long, OutboxMessage> _inFlight = [];
    private readonly Dictionary<ushort, OutboxMessage> _byPacketId = [];
    private readonly LinkedList<OutboxMessage> _ready = new();
    private ushort _lastPacketId;
    private bool _loaded;

    /// <summary>The highest sequence loaded into memory; the store holds nothing unloaded at or below it.</summary>
    public long LoadedThrough { get; private set; }

    public int InFlightCount => _inFlight.Count;

    public int ReadyCount => _ready.Count;

    public IEnumerable<OutboxMessage> InFlightInOrder => _inFlight.Values;

    /// <summary>Reads the sent head of the outbox once: what was in flight when the app last stopped.</summary>
    public async Task EnsureLoadedAsync(GroupCommitWriter writer)
    {
        if (_loaded)
            return;

        var (region, sentThrough) = await writer.RunAsync(store => (store.ReadSentRegion(), store.SentThrough)).ConfigureAwait(false);
        foreach (var message in region)
        {
            if (message.State == DeliveryState.Queued)
            {
                _ready.AddLast(message);
            }
            else
            {
                _inFlight.Add(message.Sequence, message);
                _byPacketId.Add(message.PacketId, message);
                _lastPacketId = Math.Max(_lastPacketId, message.PacketId);
            }
        }

        LoadedThrough = sentThrough;
        _loaded = true;
    }

    /// <summary>Forgets everything in memory; the next session reads it again from the store.</summary>
    public void Invalidate()
    {
        _inFlight.Clear();
        _byPacketId.Clear();
        _ready.Clear();
        LoadedThrough = 0;
        _loaded = false;
    }

    /// <summary>Appends the next <paramref name="max"/> stored messages after <see cref="LoadedThrough"/> to the ready queue.</summary>
    public async Task<int> LoadMoreAsync(GroupCommitWriter writer, int max)
    {
        var after = LoadedThrough;
        var next = await writer.RunAsync(store => store.ReadAfter(after, max)).ConfigureAwait(false);
        foreach (var message in next)
            _ready.AddLast(message);
        if (next.Count > 0)
            LoadedThrough = next[^1].Sequence;
        return next.Count;
    }

    public bool TryPeekReady(out OutboxMessage message)
    {
        message = _ready.First?.Value!;
        return message is not null;
    }

    public void DropReadyHead() => _ready.RemoveFirst();

    public bool TryGetInFlight(ushort packetId, out OutboxMessage message) => _byPacketId.TryGetValue(packetId, out message!);

    /// <summary>Gives <paramref name="message"/> a free packet id and puts it in flight (the caller persists it before sending).</summary>
    public void StartFlight(OutboxMessage message)
    {
        message.PacketId = NextFreePacketId();
        message.State = DeliveryState.Published;
        _inFlight.Add(message.Sequence, message);
        _byPacketId.Add(message.PacketId, message);
    }

    /// <summary>The broker completed (or refused) the message: its packet id is free again.</summary>
    public void EndFlight(OutboxMessage message)
    {
        _inFlight.Remove(message.Sequence);
        _byPacketId.Remove(message.PacketId);
    }

    /// <summary>
    /// The broker lost our session: every in-flight message goes back to the front of the queue, without id, to be
    /// published anew. Returns them so the caller can persist the change before anything is sent.
    /// </summary>
    public List<OutboxMessage> ReturnInFlightToQueue()
    {
        var returned = _inFlight.Values.ToList();
        for (var i = returned.Count - 1; i >= 0; i--)
        {
            returned[i].PacketId = 0;
            returned[i].State = DeliveryState.Queued;
            _ready.AddFirst(returned[i]);
        }

        _inFlight.Clear();
        _byPacketId.Clear();
        return returned;
    }

    /// <summary>
    /// Ids go round 1..65535 rather than restarting at 1 per connection, so an id is not reused soon after it completed;
    /// ids of messages still in flight are skipped.
    /// </summary>
    private ushort NextFreePacketId()
    {
        if (_byPacketId.Count >= ushort.MaxValue)
            throw new InvalidOperationException("All 65,535 packet ids are in flight.");
        var id = _lastPacketId;
        do
        {
            id = id == ushort.MaxValue ? (ushort)1 : (ushort)(id + 1);
        }
        while (_byPacketId.ContainsKey(id));
        _lastPacketId = id;
        return id;
    }
}
