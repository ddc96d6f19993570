namespace StoreForward;

/// <summary>What <see cref="StoreForwardPublisher.PublishAsync(string, ReadOnlyMemory{byte}, MQTTnet.Protocol.MqttQualityOfServiceLevel, bool, CancellationToken)"/> does with a QoS 0 message while no session is up.</summary>
public enum Qos0WhenOffline
{
    /// <summary>
    /// Store it like any other message; it is sent once, without acknowledgement, after the reconnect. Default: an outage
    /// loses nothing that was published.
    /// </summary>
    Store = 0,

    /// <summary>
    /// Discard it at the call, as a QoS 0 publish on a down link would be: nothing is stored, the receipt says
    /// <see cref="PublishReceipt.IsDiscarded"/>, and <see cref="OutboxStatus.DiscardedQos0"/> counts it. QoS 0 messages
    /// stored while the session was up are still sent after a reconnect.
    /// </summary>
    Drop = 1,
}
