using System.Globalization;

namespace StoreForward;

/// <summary>
/// Proof that a message is on stable storage in the outbox. From here on StoreForward delivers it, across broker
/// restarts, network faults and app restarts.
/// </summary>
/// <remarks>
/// Only a publish or a requeue makes a receipt, so there is no public constructor; <c>default(PublishReceipt)</c> stands for
/// nothing stored (<see cref="IsDiscarded"/> is true). A struct, so that a publish allocates nothing for its answer.
/// Receipts have value equality, and it is meant as API: a receipt is a value naming a stored message, which a caller
/// may compare with another or keep in a set; two are equal when their <see cref="Sequence"/> and <see cref="StoredAt"/>
/// are. Without it a struct compares field by field through reflection and hashes its first field only.
/// </remarks>
public readonly struct PublishReceipt : IEquatable<PublishReceipt>
{
    internal PublishReceipt(long sequence, DateTimeOffset storedAt)
    {
        Sequence = sequence;
        StoredAt = storedAt;
    }

    /// <summary>
    /// The message's position in the outbox. It grows strictly across the store's whole life (also after the outbox
    /// drained empty and after restarts), so it identifies the message and orders delivery.
    /// </summary>
    public long Sequence { get; }

    /// <summary>When the commit holding the message completed.</summary>
    public DateTimeOffset StoredAt { get; }

    /// <summary>
    /// True for a QoS 0 message discarded at the call because no session was up and
    /// <see cref="StoreForwardOptions.Qos0WhenOffline"/> is <see cref="StoreForward.Qos0WhenOffline.Drop"/>: nothing was
    /// stored (<see cref="Sequence"/> is 0, <see cref="StoredAt"/> the time of the call).
    /// </summary>
    public bool IsDiscarded => Sequence == 0;

    /// <summary>Whether both receipts name the same sequence and commit time.</summary>
    public static bool operator ==(PublishReceipt left, PublishReceipt right) => left.Equals(right);

    /// <summary>Whether the receipts differ in sequence or commit time.</summary>
    public static bool operator !=(PublishReceipt left, PublishReceipt right) => !left.Equals(right);

    /// <summary>Whether <paramref name="other"/> names the same sequence and commit time.</summary>
    public bool Equals(PublishReceipt other) => Sequence == other.Sequence && StoredAt.Equals(other.StoredAt);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PublishReceipt other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Sequence, StoredAt);

    /// <summary>The sequence and commit time, or that the message was discarded.</summary>
    public override string ToString() =>
        IsDiscarded
            ? string.Create(CultureInfo.InvariantCulture, $"discarded at {StoredAt:O}")
            : string.Create(CultureInfo.InvariantCulture, $"#{Sequence} stored at {StoredAt:O}");
}
