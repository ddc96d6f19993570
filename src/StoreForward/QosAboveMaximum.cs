namespace StoreForward;

/// <summary>
/// What the publisher does with a message whose QoS is above what the broker accepts (<see cref="StoreForwardOptions.QosAboveMaximum"/>).
/// AWS IoT Core and Azure IoT Hub, for example, accept QoS 0 and 1 only.
/// </summary>
public enum QosAboveMaximum
{
    /// <summary>
    /// Keep the message aside as a <see cref="DeadLetterReason.QosNotSupported"/> dead letter, so that nothing is delivered
    /// with a weaker guarantee than it was published with. The default.
    /// </summary>
    DeadLetter,

    /// <summary>
    /// Send the message at the broker's maximum QoS: a QoS 2 message to a QoS 1 broker arrives at least once instead of
    /// exactly once. Counted in <see cref="OutboxStatus.Downgraded"/> and logged once per connection.
    /// </summary>
    Downgrade,
}
