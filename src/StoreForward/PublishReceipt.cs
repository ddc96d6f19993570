namespace StoreForward;

/// <summary>
/// Proof that a message is on stable storage in the outbox. From here on StoreForward delivers it, across broker
/// restarts, network faults and app restarts.
/// </summary>
/// <param name="Sequence">
/// The message's position in the outbox. It grows strictly across the store's whole life (also after the outbox drained
/// empty and after restarts), so it identifies the message and orders delivery.
/// </param>
/// <param name="StoredAt">When the commit holding the message completed.</param>
public readonly record struct PublishReceipt(long Sequence, DateTimeOffset StoredAt)
{
    /// <summary>
    /// True for a QoS 0 message discarded at the call because no session was up and
    /// <see cref="StoreForwardOptions.Qos0WhenOffline"/> is <see cref="StoreForward.Qos0WhenOffline.Drop"/>: nothing was
    /// stored (<see cref="Sequence"/> is 0, <see cref="StoredAt"/> the time of the call).
    /// </summary>
    public bool IsDiscarded => Sequence == 0;
}
