namespace StoreForward;

/// <summary>
/// What <see cref="StoreForwardPublisher.PublishAsync(string, ReadOnlyMemory{byte}, MQTTnet.Protocol.MqttQualityOfServiceLevel, bool, CancellationToken)"/> does when a new message would take the outbox past
/// <see cref="StoreForwardOptions.MaxPendingMessages"/> or <see cref="StoreForwardOptions.MaxPendingBytes"/>.
/// </summary>
public enum OverflowPolicy
{
    /// <summary>The publish throws a <see cref="StoreFullException"/> that names the limits; nothing is stored.</summary>
    Reject = 0,

    /// <summary>
    /// The oldest messages that were never sent are dropped until the new one fits, in the same commit that stores it; each
    /// drop is counted in <see cref="OutboxStatus.Dropped"/> and raised as <see cref="StoreForwardPublisher.MessageDropped"/>.
    /// Messages that may be at the broker (in flight, or up to the recorded "sent" mark) and the few already read for
    /// sending by a connected session are never dropped; when nothing else is left to drop, the publish is rejected.
    /// </summary>
    DropOldest = 1,

    /// <summary>
    /// The publish waits, in order with the other waiting publishes, until delivery made room, or until its cancellation
    /// token is cancelled (then nothing is stored).
    /// </summary>
    Wait = 2,
}
