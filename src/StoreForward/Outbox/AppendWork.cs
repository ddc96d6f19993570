using MQTTnet.Protocol;

namespace StoreForward.Outbox;

/// <summary>
/// The work behind one <see cref="StoreForwardPublisher.PublishAsync"/>. Its caller may cancel it only until the writer
/// claims it; after that the message is being committed and the caller gets its receipt.
/// </summary>
internal sealed class AppendWork(string topic, ReadOnlyMemory<byte> payload, MqttQualityOfServiceLevel qos, bool retain, DateTimeOffset now)
    : StoreWork
{
    private const int Waiting = 0;
    private const int Claimed = 1;
    private const int Withdrawn = 2;

    private readonly TaskCompletionSource<PublishReceipt> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;
    private long _sequence;

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

    public override bool Execute(OutboxStore store)
    {
        if (Interlocked.CompareExchange(ref _state, Claimed, Waiting) != Waiting)
            return false;
        _sequence = store.Append(topic, payload.Span, qos, retain, now);
        return true;
    }

    public override void Complete(DateTimeOffset committedAt) =>
        _completion.TrySetResult(new PublishReceipt(_sequence, committedAt));

    public override void Fail(Exception error) => _completion.TrySetException(error);
}
