using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// The work behind one <see cref="StoreForwardPublisher.PublishAsync(string, ReadOnlyMemory{byte}, MQTTnet.Protocol.MqttQualityOfServiceLevel, bool, CancellationToken)"/>. Its caller may cancel it only until the writer
/// claims it; after that the message is being committed and the caller gets its receipt. It applies the outbox's
/// <see cref="OutboxLimits"/> on the writer thread, where the counters cannot change under it, so the limits hold exactly.
/// </summary>
internal sealed class AppendWork(
    string topic,
    ReadOnlyMemory<byte> payload,
    MqttQualityOfServiceLevel qos,
    bool retain,
    DateTimeOffset now,
    OutboxLimits limits,
    Action<IReadOnlyList<DroppedMessage>>? dropped = null,
    DateTimeOffset? expiresAt = null,
    MessageProperties? properties = null,
    bool coalesce = false)
    : StoreWork
{
    private const int Waiting = 0;
    private const int Claimed = 1;
    private const int Withdrawn = 2;

    private readonly TaskCompletionSource<PublishReceipt> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _size = OutboxMessage.StoredSize(topic, payload.Length);
    private int _state;
    private long _sequence;
    private StoreFullException? _refused;
    private List<DroppedMessage>? _dropped;

    public Task<PublishReceipt> Task => _completion.Task;

    /// <summary>Whether the last <see cref="Execute"/> stored the message.</summary>
    public bool Stored { get; private set; }

    /// <summary>How many messages the last <see cref="Execute"/> dropped to make room.</summary>
    public int DroppedCount => _dropped?.Count ?? 0;

    public override long Bytes => payload.Length;

    /// <summary>Withdraws the work if the writer has not claimed it yet; then nothing is stored.</summary>
    public bool TryWithdraw(CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref _state, Withdrawn, Waiting) != Waiting)
            return false;
        _completion.TrySetCanceled(token);
        return true;
    }

    public override bool WaitsForRoom(OutboxStore store, bool othersWait) =>
        limits.Policy == OverflowPolicy.Wait
        && Volatile.Read(ref _state) == Waiting
        && (othersWait || Excess(store, Replaced(store)) != (0, 0));

    public override bool Execute(OutboxStore store)
    {
        if (Interlocked.CompareExchange(ref _state, Claimed, Waiting) != Waiting || !MakeRoom(store))
            return false;
        _sequence = store.Append(topic, payload.Span, qos, retain, now, expiresAt, properties, coalesce);
        Stored = true;
        return true;
    }

    /// <summary>The message this coalesced append replaces, which frees its room; looked up only when room is limited.</summary>
    private OutboxMessage? Replaced(OutboxStore store) => coalesce && limits.IsBounded ? store.Supersedable(topic) : null;

    private (long Messages, long Bytes) Excess(OutboxStore store, OutboxMessage? replaced) =>
        limits.Excess(store.PendingMessages - (replaced is null ? 0 : 1), store.PendingBytes - (replaced?.Size ?? 0), _size);

    private bool MakeRoom(OutboxStore store)
    {
        var replaced = Replaced(store);
        var (messages, bytes) = Excess(store, replaced);
        if (messages == 0 && bytes == 0)
            return true;
        if (limits.Policy == OverflowPolicy.DropOldest)
        {
            // The replaced message is not dropped: it goes anyway, and its room is already counted.
            _dropped = store.DropOldestUnsent(messages, bytes, spare: replaced?.Sequence ?? 0);
            if (_dropped is not null && Excess(store, replaced) == (0, 0))
                return true;
        }

        _refused = limits.Full(
            topic,
            _size,
            store.PendingMessages,
            store.PendingBytes,
            limits.Policy == OverflowPolicy.DropOldest ? "no message could be dropped: every pending one may already be at the broker or is being sent" : null);
        return false;
    }

    public override void Complete(DateTimeOffset committedAt)
    {
        if (_dropped is { Count: > 0 })
            dropped?.Invoke(_dropped);
        if (_refused is not null)
            _completion.TrySetException(_refused);
        else
            _completion.TrySetResult(new PublishReceipt(_sequence, committedAt));
    }

    public override void Fail(Exception error) => _completion.TrySetException(error);
}
