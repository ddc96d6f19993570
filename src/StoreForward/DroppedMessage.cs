namespace StoreForward;

/// <summary>A message that <see cref="OverflowPolicy.DropOldest"/> dropped, unsent, to make room for a newer one.</summary>
/// <param name="Sequence">The sequence from the message's <see cref="PublishReceipt"/>.</param>
/// <param name="Topic">The message's topic.</param>
/// <param name="StoredAt">When the message was stored.</param>
public sealed record DroppedMessage(long Sequence, string Topic, DateTimeOffset StoredAt);
