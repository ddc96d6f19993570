namespace StoreForward.Outbox;

/// <summary>The outbox's capacity and what a publish does beyond it (the options' MaxPendingMessages, MaxPendingBytes and OverflowPolicy).</summary>
internal sealed record OutboxLimits(long? MaxMessages, long? MaxBytes, OverflowPolicy Policy)
{
    public static OutboxLimits Unbounded { get; } = new(null, null, OverflowPolicy.Reject);

    public bool IsBounded => MaxMessages is not null || MaxBytes is not null;

    /// <summary>
    /// How many messages and bytes must leave an outbox holding <paramref name="messages"/> and <paramref name="bytes"/>
    /// before a message of <paramref name="size"/> bytes fits; both zero when it fits now.
    /// </summary>
    public (long Messages, long Bytes) Excess(long messages, long bytes, long size) => Excess(messages, bytes, 1, size);

    /// <summary>The same for <paramref name="addedMessages"/> messages of <paramref name="addedBytes"/> bytes together.</summary>
    public (long Messages, long Bytes) Excess(long messages, long bytes, long addedMessages, long addedBytes) =>
        (MaxMessages is { } maxMessages ? Math.Max(0, messages + addedMessages - maxMessages) : 0,
         MaxBytes is { } maxBytes ? Math.Max(0, bytes + addedBytes - maxBytes) : 0);

    public bool Fits(long messages, long bytes, long size) => Excess(messages, bytes, size) == (0, 0);

    public bool Fits(long messages, long bytes, long addedMessages, long addedBytes) => Excess(messages, bytes, addedMessages, addedBytes) == (0, 0);

    /// <summary>Whether a message of <paramref name="size"/> bytes can never fit, not even in an empty outbox.</summary>
    public bool NeverFits(long size) => size > MaxBytes;

    public StoreFullException Full(string topic, long size, long messages, long bytes, string? why = null) =>
        new(topic, size, messages, bytes, MaxMessages, MaxBytes, why);
}
