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
public readonly record struct PublishReceipt(long Sequence, DateTimeOffset StoredAt);
