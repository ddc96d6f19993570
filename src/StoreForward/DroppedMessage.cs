using System.Globalization;

namespace StoreForward;

/// <summary>A message that <see cref="OverflowPolicy.DropOldest"/> dropped, unsent, to make room for a newer one.</summary>
/// <remarks>
/// Only the outbox makes these, so there is no public constructor. Two instances are equal only when they are the same
/// object: a message is named by its <see cref="Sequence"/>, so compare those.
/// </remarks>
public sealed class DroppedMessage
{
    internal DroppedMessage(long sequence, string topic, DateTimeOffset storedAt)
    {
        Sequence = sequence;
        Topic = topic;
        StoredAt = storedAt;
    }

    /// <summary>The sequence from the message's <see cref="PublishReceipt"/>.</summary>
    public long Sequence { get; }

    /// <summary>The message's topic.</summary>
    public string Topic { get; }

    /// <summary>When the message was stored.</summary>
    public DateTimeOffset StoredAt { get; }

    /// <summary>The sequence, topic and time stored, for a log line.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"#{Sequence} '{Topic}' stored at {StoredAt:O}");
}
