using System.Globalization;

namespace StoreForward;

/// <summary>
/// A publish did not fit in the outbox under <see cref="StoreForwardOptions.MaxPendingMessages"/> or
/// <see cref="StoreForwardOptions.MaxPendingBytes"/> with <see cref="OverflowPolicy.Reject"/> (or with
/// <see cref="OverflowPolicy.DropOldest"/> when every pending message may already be at the broker). Nothing was stored.
/// </summary>
public sealed class StoreFullException : InvalidOperationException
{
    /// <summary>Creates the exception; the message states the limits and what the outbox held.</summary>
    public StoreFullException(string topic, long messageBytes, long pendingMessages, long pendingBytes, long? maxPendingMessages, long? maxPendingBytes, string? why = null)
        : base(Describe(topic, messageBytes, pendingMessages, pendingBytes, maxPendingMessages, maxPendingBytes, why))
    {
        Topic = topic;
        PendingMessages = pendingMessages;
        PendingBytes = pendingBytes;
        MaxPendingMessages = maxPendingMessages;
        MaxPendingBytes = maxPendingBytes;
    }

    /// <summary>The topic of the message that was not stored.</summary>
    public string Topic { get; }

    /// <summary>Messages pending in the outbox when the publish was refused.</summary>
    public long PendingMessages { get; }

    /// <summary>Topic and payload bytes pending in the outbox when the publish was refused.</summary>
    public long PendingBytes { get; }

    /// <summary>The configured <see cref="StoreForwardOptions.MaxPendingMessages"/>.</summary>
    public long? MaxPendingMessages { get; }

    /// <summary>The configured <see cref="StoreForwardOptions.MaxPendingBytes"/>.</summary>
    public long? MaxPendingBytes { get; }

    private static string Describe(string topic, long messageBytes, long pendingMessages, long pendingBytes, long? maxMessages, long? maxBytes, string? why)
    {
        var limits = new List<string>();
        if (maxMessages is { } messages)
            limits.Add(string.Create(CultureInfo.InvariantCulture, $"{pendingMessages:N0} of at most {messages:N0} messages (MaxPendingMessages)"));
        if (maxBytes is { } bytes)
            limits.Add(string.Create(CultureInfo.InvariantCulture, $"{pendingBytes:N0} of at most {bytes:N0} bytes (MaxPendingBytes)"));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"The outbox is full: it holds {string.Join(" and ", limits)}, so the message to '{topic}' ({messageBytes:N0} bytes of topic and payload) was not stored{(why is null ? "" : $"; {why}")}.");
    }
}
