using System.Globalization;

namespace StoreForward;

/// <summary>A snapshot of the outbox and the connection.</summary>
/// <remarks>
/// Only <see cref="StoreForwardPublisher.Status"/> makes these, so there is no public constructor, and new figures can be
/// added without breaking callers. Two snapshots are equal only when they are the same object; compare the figures that
/// matter. <see cref="ToString"/> lists every figure, for a log line or the console.
/// </remarks>
public sealed class OutboxStatus
{
    internal OutboxStatus(
        long pendingMessages,
        long pendingBytes,
        TimeSpan? oldestPendingAge,
        bool isConnected,
        long deadLetters,
        long sessionsLost,
        string? lastConnectionError,
        long dropped,
        long discardedQos0,
        long downgraded,
        string? server,
        long expired,
        long superseded,
        string? storeError)
    {
        PendingMessages = pendingMessages;
        PendingBytes = pendingBytes;
        OldestPendingAge = oldestPendingAge;
        IsConnected = isConnected;
        DeadLetters = deadLetters;
        SessionsLost = sessionsLost;
        LastConnectionError = lastConnectionError;
        Dropped = dropped;
        DiscardedQos0 = discardedQos0;
        Downgraded = downgraded;
        Server = server;
        Expired = expired;
        Superseded = superseded;
        StoreError = storeError;
    }

    /// <summary>Messages stored and not yet acknowledged by the broker.</summary>
    public long PendingMessages { get; }

    /// <summary>Topic and payload bytes of the pending messages.</summary>
    public long PendingBytes { get; }

    /// <summary>Age of the oldest pending message, or <see langword="null"/> when the outbox is empty.</summary>
    public TimeSpan? OldestPendingAge { get; }

    /// <summary>Whether a session with the broker is up.</summary>
    public bool IsConnected { get; }

    /// <summary>Messages the broker refused or can never accept, kept aside in the store.</summary>
    public long DeadLetters { get; }

    /// <summary>
    /// How often the broker answered a reconnect without the session, so in-flight messages had to be published anew.
    /// </summary>
    public long SessionsLost { get; }

    /// <summary>Why the last connection attempt or session failed, or <see langword="null"/> while connected.</summary>
    public string? LastConnectionError { get; }

    /// <summary>
    /// Messages that <see cref="OverflowPolicy.DropOldest"/> dropped unsent to make room, over the life of the store file.
    /// </summary>
    public long Dropped { get; }

    /// <summary>
    /// QoS 0 publishes discarded at the call because no session was up (<see cref="Qos0WhenOffline.Drop"/>), since the
    /// publisher started.
    /// </summary>
    public long DiscardedQos0 { get; }

    /// <summary>
    /// Messages delivered below the QoS they were published with, since the publisher started: QoS 2 messages a broker
    /// answered with PUBACK (it supports QoS 1 at most, as RabbitMQ), and messages sent at the broker's maximum QoS by
    /// <see cref="QosAboveMaximum.Downgrade"/>. Exactly-once does not hold for them.
    /// </summary>
    public long Downgraded { get; }

    /// <summary>
    /// The server of the session that is up, as <c>mqtt://host:port</c> or <c>mqtts://host:port</c>; null while
    /// disconnected. With <see cref="StoreForwardOptions.Servers"/> it shows which one took over.
    /// </summary>
    public string? Server { get; }

    /// <summary>
    /// Messages that expired in the outbox before they were sent (<see cref="StoreForwardOptions.DefaultMessageExpiry"/>, or
    /// a message's own Message Expiry Interval), over the life of the store file.
    /// </summary>
    public long Expired { get; }

    /// <summary>
    /// Unsent messages replaced by a newer one on the same topic (<see cref="StoreForwardOptions.CoalescedTopics"/>), over
    /// the life of the store file.
    /// </summary>
    public long Superseded { get; }

    /// <summary>
    /// Why the last commit of the store failed (for example a full disk), until one succeeds again; null while the store
    /// works. Publishes fail meanwhile, and messages stored before stay intact.
    /// </summary>
    public string? StoreError { get; }

    /// <summary>Every figure by name, as <c>OutboxStatus { PendingMessages = 3, PendingBytes = 120, ... }</c>.</summary>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"OutboxStatus {{ PendingMessages = {PendingMessages}, PendingBytes = {PendingBytes}, OldestPendingAge = {OldestPendingAge}, " +
            $"IsConnected = {IsConnected}, DeadLetters = {DeadLetters}, SessionsLost = {SessionsLost}, " +
            $"LastConnectionError = {LastConnectionError}, Dropped = {Dropped}, DiscardedQos0 = {DiscardedQos0}, " +
            $"Downgraded = {Downgraded}, Server = {Server}, Expired = {Expired}, Superseded = {Superseded}, StoreError = {StoreError} }}");
}
