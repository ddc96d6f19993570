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
        && (othersWait || !limits.Fits(store.PendingMessages, store.PendingBytes, _size));

    public override bool Execute(OutboxStore store)
    {
        if (Interlocked.CompareExchange(ref _state, Claimed, Waiting) != Waiting || !MakeRoom(store))
            return false;
        _sequence = store.Append(topic, payload.Span, qos, retain, now, expiresAt, properties, coalesce);
        return true;
    }

    private bool MakeRoom(OutboxStore store)
    {
        var (messages, bytes) = limits.Excess(store.PendingMessages, store.PendingBytes, _size);
        if (messages == 0 && bytes == 0)
            return true;
        if (limits.Policy == OverflowPolicy.DropOldest)
        {
            _dropped = store.DropOldestUnsent(messages, bytes);
            if (_dropped is not null && limits.Fits(store.PendingMessages, store.PendingBytes, _size))
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
