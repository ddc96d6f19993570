namespace StoreForward;

/// <summary>A snapshot of the outbox and the connection.</summary>
/// <param name="PendingMessages">Messages stored and not yet acknowledged by the broker.</param>
/// <param name="PendingBytes">Topic and payload bytes of the pending messages.</param>
/// <param name="OldestPendingAge">Age of the oldest pending message, or <see langword="null"/> when the outbox is empty.</param>
/// <param name="IsConnected">Whether a session with the broker is up.</param>
/// <param name="DeadLetters">Messages the broker refused or can never accept, kept aside in the store.</param>
/// <param name="SessionsLost">
/// How often the broker answered a reconnect without the session, so in-flight messages had to be published anew.
/// </param>
public sealed record OutboxStatus(
    long PendingMessages,
    long PendingBytes,
    TimeSpan? OldestPendingAge,
    bool IsConnected,
    long DeadLetters,
    long SessionsLost)
{
    /// <summary>Why the last connection attempt or session failed, or <see langword="null"/> while connected.</summary>
    public string? LastConnectionError { get; init; }

    /// <summary>
    /// Messages that <see cref="OverflowPolicy.DropOldest"/> dropped unsent to make room, over the life of the store file.
    /// </summary>
    public long Dropped { get; init; }

    /// <summary>
    /// QoS 0 publishes discarded at the call because no session was up (<see cref="Qos0WhenOffline.Drop"/>), since the
    /// publisher started.
    /// </summary>
    public long DiscardedQos0 { get; init; }

    /// <summary>
    /// Messages delivered below the QoS they were published with, since the publisher started: QoS 2 messages a broker
    /// answered with PUBACK (it supports QoS 1 at most, as RabbitMQ), and messages sent at the broker's maximum QoS by
    /// <see cref="QosAboveMaximum.Downgrade"/>. Exactly-once does not hold for them.
    /// </summary>
    public long Downgraded { get; init; }

    /// <summary>
    /// The server of the session that is up, as <c>mqtt://host:port</c> or <c>mqtts://host:port</c>; null while
    /// disconnected. With <see cref="StoreForwardOptions.Servers"/> it shows which one took over.
    /// </summary>
    public string? Server { get; init; }

    /// <summary>
    /// Messages that expired in the outbox before they were sent (<see cref="StoreForwardOptions.DefaultMessageExpiry"/>, or
    /// a message's own Message Expiry Interval), over the life of the store file.
    /// </summary>
    public long Expired { get; init; }

    /// <summary>
    /// Unsent messages replaced by a newer one on the same topic (<see cref="StoreForwardOptions.CoalescedTopics"/>), over
    /// the life of the store file.
    /// </summary>
    public long Superseded { get; init; }

    /// <summary>
    /// Why the last commit of the store failed (for example a full disk), until one succeeds again; null while the store
    /// works. Publishes fail meanwhile, and messages stored before stay intact.
    /// </summary>
    public string? StoreError { get; init; }
}
