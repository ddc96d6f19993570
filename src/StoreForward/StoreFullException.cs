using System.Globalization;

namespace StoreForward;

/// <summary>
/// A publish did not fit in the outbox under <see cref="StoreForwardOptions.MaxPendingMessages"/> or
/// <see cref="StoreForwardOptions.MaxPendingBytes"/> with <see cref="OverflowPolicy.Reject"/> (or with
/// <see cref="OverflowPolicy.DropOldest"/> when every pending message may already be at the broker). Nothing was stored.
/// </summary>
public sealed class StoreFullException : InvalidOperationException
{
    /// <summary>The exception for a publish to <paramref name="topic"/>; the message states the limits and what the outbox held.</summary>
    /// <remarks>
    /// Internal, as are all its constructors: only the outbox knows the figures, and an exception made elsewhere would
    /// carry invented ones. The standard exception constructors (CA1032) are left out for the same reason.
    /// </remarks>
    internal StoreFullException(string topic, long messageBytes, long pendingMessages, long pendingBytes, long? maxPendingMessages, long? maxPendingBytes, string? why = null)
        : this(
            Invariant($"the message to '{topic}' ({messageBytes:N0} bytes of topic and payload) was not stored{(why is null ? "" : $"; {why}")}"),
            topic,
            pendingMessages,
            pendingBytes,
            maxPendingMessages,
            maxPendingBytes)
    {
    }

    private StoreFullException(string notStored, string? topic, long pendingMessages, long pendingBytes, long? maxPendingMessages, long? maxPendingBytes)
        : base(Describe(notStored, pendingMessages, pendingBytes, maxPendingMessages, maxPendingBytes))
    {
        Topic = topic;
        PendingMessages = pendingMessages;
        PendingBytes = pendingBytes;
        MaxPendingMessages = maxPendingMessages;
        MaxPendingBytes = maxPendingBytes;
    }

    /// <summary>The topic of the message that was not stored; null when a requeue of dead letters was refused.</summary>
    public string? Topic { get; }

    /// <summary>Messages pending in the outbox when the publish was refused.</summary>
    public long PendingMessages { get; }

    /// <summary>Topic and payload bytes pending in the outbox when the publish was refused.</summary>
    public long PendingBytes { get; }

    /// <summary>The configured <see cref="StoreForwardOptions.MaxPendingMessages"/>.</summary>
    public long? MaxPendingMessages { get; }

    /// <summary>The configured <see cref="StoreForwardOptions.MaxPendingBytes"/>.</summary>
    public long? MaxPendingBytes { get; }

    internal static StoreFullException ForRequeue(int messages, long bytes, long pendingMessages, long pendingBytes, long? maxPendingMessages, long? maxPendingBytes) =>
        new(
            Invariant($"the {messages:N0} dead letters to requeue ({bytes:N0} bytes of topic and payload) do not all fit, so none was moved"),
            null,
            pendingMessages,
            pendingBytes,
            maxPendingMessages,
            maxPendingBytes);

    private static string Describe(string notStored, long pendingMessages, long pendingBytes, long? maxMessages, long? maxBytes)
    {
        var limits = new List<string>();
        if (maxMessages is { } messages)
            limits.Add(Invariant($"{pendingMessages:N0} of at most {messages:N0} messages (MaxPendingMessages)"));
        if (maxBytes is { } bytes)
            limits.Add(Invariant($"{pendingBytes:N0} of at most {bytes:N0} bytes (MaxPendingBytes)"));
        return $"The outbox is full: it holds {string.Join(" and ", limits)}, so {notStored}.";
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
