using MQTTnet.Formatter;

namespace StoreForward;

/// <summary>
/// Settings of a <see cref="StoreForwardPublisher"/>. Plain settable properties, so that the options can be bound from
/// configuration; <see cref="StoreForwardPublisher.StartAsync(StoreForwardOptions, CancellationToken)"/> validates them and names every bad value.
/// </summary>
public sealed class StoreForwardOptions
{
    /// <summary>The largest payload MQTT can carry (the 256 MiB packet limit minus the smallest header).</summary>
    internal const int MqttMaximumPayload = 268_435_455 - 7;

    /// <summary>
    /// LiteDB documents are limited to about 16 MiB; the topic, the bookkeeping fields and the BSON framing need room too.
    /// </summary>
    public const int MaxStorablePayloadBytes = 16 * 1024 * 1024 - 128 * 1024;

    /// <summary>
    /// The MQTT client identifier. It must stay the same across restarts: the broker keeps the session, and with it the
    /// QoS 2 state of unfinished messages, under this name.
    /// </summary>
    public required string ClientId { get; set; }

    /// <summary>The host name used when neither <see cref="Host"/> nor <see cref="Servers"/> is set.</summary>
    public const string DefaultHost = "localhost";

    /// <summary>The port used when <see cref="Port"/> is not set (MQTT's registered port; TLS brokers usually listen on 8883).</summary>
    public const int DefaultPort = 1883;

    /// <summary>
    /// Host name or address of the broker. Null (default): <see cref="DefaultHost"/>, unless <see cref="Servers"/> lists the
    /// brokers instead; then this must stay null.
    /// </summary>
    public string? Host { get; set; }

    /// <summary>
    /// TCP port of the broker. Null (default): <see cref="DefaultPort"/>, unless <see cref="Servers"/> lists the brokers
    /// instead; then this must stay null.
    /// </summary>
    public int? Port { get; set; }

    /// <summary>
    /// The brokers to connect to, in order of preference, for failover: entries <c>host:port</c> (TLS as
    /// <see cref="StoreForwardTlsOptions.Enabled"/> says), <c>mqtt://host:port</c> (plain TCP) or <c>mqtts://host:port</c>
    /// (TLS with the settings of <see cref="Tls"/>), so one list may mix both; an IPv6 address goes in brackets. Each
    /// connection round tries them in order and takes the first that accepts; when every one fails, the round backs off
    /// like a single broker. Empty (default): <see cref="Host"/> and <see cref="Port"/>. One ClientId and one store serve
    /// every server; two entries for the same host and port are refused. See <see cref="FailbackInterval"/> and
    /// <see cref="ServersShareSessions"/>.
    /// </summary>
    public IList<string> Servers { get; set; } = [];

    /// <summary>
    /// While connected to a server other than the first of <see cref="Servers"/>, how often the earlier ones are probed
    /// (a TCP connect). When one answers, the publisher stops sending new messages, lets the broker acknowledge what is in
    /// flight (a broker that acknowledges nothing for <see cref="AckTimeout"/> ends the session as usual), disconnects and
    /// starts a new round from the first server, so it returns to its primary once that is back. A return that does not
    /// hold (the earlier server accepted TCP but refused MQTT) doubles the interval, up to an hour, until one does.
    /// Default one minute; null: stay on the server that took over until it fails.
    /// </summary>
    public TimeSpan? FailbackInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Whether the <see cref="Servers"/> are nodes of one cluster that shares sessions (an EMQX, HiveMQ or RabbitMQ
    /// cluster). False (default): each server keeps a session of its own, so on a switch to another server its session is
    /// cleared first (a stale one from an earlier visit could take a new QoS 2 message for a duplicate and drop it) and
    /// the messages in flight are published there anew: nothing acknowledged is lost, and a message in flight at the
    /// switch may arrive twice. True: the session resumes on whichever node answers, and QoS 2 stays exactly-once across
    /// a failover as far as the cluster keeps the session.
    /// </summary>
    public bool ServersShareSessions { get; set; }

    /// <summary>
    /// Path of the outbox file. Its write-ahead log is kept beside it as <c>&lt;name&gt;-log&lt;ext&gt;</c>. A missing
    /// directory is created owner-only (0700); one that cannot be created fails the start, naming it.
    /// </summary>
    public string StorePath { get; set; } = "storeforward.db";

    /// <summary>
    /// How long a commit waits for more publishes before it fsyncs (default zero: at once). Concurrent publishes share a
    /// commit anyway; an interval of a few milliseconds also groups publishes that arrive one after another, so a flash
    /// card sees fewer, fuller writes. <see cref="StoreForwardPublisher.PublishAsync(string, ReadOnlyMemory{byte}, MQTTnet.Protocol.MqttQualityOfServiceLevel, bool, CancellationToken)"/>
    /// still returns only once its message is durable: each publish waits up to this much longer, and nothing is less
    /// safe. Between zero and one second.
    /// </summary>
    public TimeSpan CommitInterval { get; set; }

    /// <summary>
    /// Whether a store directory every user can write to, without the sticky bit, is accepted. False (default): it is
    /// refused, because any local user could delete the store or replace it with a link to another file. Set it for a
    /// container volume that is 0777 by design and that no other user can reach, such as a Kubernetes <c>emptyDir</c> or a
    /// Docker volume. Has no effect on Windows.
    /// </summary>
    public bool AllowWorldWritableStoreDirectory { get; set; }

    /// <summary>
    /// A 256-bit key (32 bytes; from configuration, base64) that turns on encryption at rest: the topic, payload and MQTT 5
    /// properties of every message stored from then on are sealed with AES-256-GCM under a key derived from this one and
    /// the store, and a record altered on disk is set aside as a <see cref="DeadLetterReason.Unreadable"/> dead letter instead
    /// of being published. Null (default): messages are stored in clear. Once a store holds encrypted messages it opens
    /// only with this key (<see cref="OutboxStoreProblem.KeyMismatch"/> otherwise). Keep the key out of the store's
    /// directory: see the security guide.
    /// </summary>
    public byte[]? EncryptionKey { get; set; }

    /// <summary>
    /// What <see cref="StoreForwardPublisher.StartAsync(StoreForwardOptions, CancellationToken)"/> does with a store file
    /// that is damaged, truncated or not a StoreForward outbox. False (default): it throws an
    /// <see cref="OutboxStoreException"/> naming the file and the problem, and the app decides. True: it moves the files
    /// aside as <c>name.quarantined-&lt;UTC time&gt;.ext</c> (kept for inspection or recovery), starts with a fresh store and
    /// reports the moved file in <see cref="StoreForwardPublisher.QuarantinedStorePath"/>. Messages in the damaged file
    /// are not delivered.
    /// </summary>
    public bool QuarantineUnreadableStore { get; set; }

    /// <summary>MQTT protocol version: <see cref="MqttProtocolVersion.V500"/> (default) or <see cref="MqttProtocolVersion.V311"/>.</summary>
    public MqttProtocolVersion ProtocolVersion { get; set; } = MqttProtocolVersion.V500;

    /// <summary>
    /// MQTT 5 Session Expiry Interval: how long the broker keeps the session after a disconnect. Must be more than zero,
    /// because a session that expires at once keeps no QoS 2 state. <see cref="TimeSpan.MaxValue"/> means "never expires".
    /// Ignored on MQTT 3.1.1, where CleanSession=false keeps the session until the broker drops it.
    /// </summary>
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// MQTT keep-alive. PINGREQ goes out when either direction has been silent for half of it, and a link on which nothing
    /// arrived for a whole keep-alive is declared dead and reconnected (checked every eighth of it, so within 1.125 times
    /// this long). A Server Keep Alive in the broker's MQTT 5 CONNACK wins over this value.
    /// </summary>
    public TimeSpan KeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long the broker may leave every in-flight message unacknowledged while the link is otherwise alive. MQTT allows a
    /// resend only on a new connection, so after this long the session reconnects and resends: a broker that lost a
    /// PUBLISH or its answer cannot stall the drain.
    /// </summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one connection attempt (TCP connect plus CONNECT/CONNACK) may take.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Optional user name sent in CONNECT.</summary>
    public string? Username { get; set; }

    /// <summary>
    /// Optional password sent in CONNECT (on MQTT 3.1.1 only with a <see cref="Username"/>). Never logged, never part of
    /// an error message, never stored in the outbox. Send it over TLS (<see cref="Tls"/>): MQTT carries it in clear text.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>
    /// Supplies user name and password before every connection attempt, for credentials that expire or rotate (tokens,
    /// vault-managed passwords); null (default): <see cref="Username"/> and <see cref="Password"/>, which must then stay
    /// null. What it returns is never logged or stored.
    /// </summary>
    public IMqttCredentialsProvider? CredentialsProvider { get; set; }

    /// <summary>
    /// An HTTP proxy for the <c>ws://</c> and <c>wss://</c> entries of <see cref="Servers"/>, or null (default): none. See
    /// <see cref="WebSocketProxyOptions"/>.
    /// </summary>
    public WebSocketProxyOptions? WebSocketProxy { get; set; }

    /// <summary>TLS to the broker, off by default: see <see cref="StoreForwardTlsOptions"/>.</summary>
    public StoreForwardTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// The highest QoS the broker accepts, for brokers that cannot say so: on MQTT 3.1.1 there is no Maximum QoS, and AWS
    /// IoT Core and Azure IoT Hub close the connection on a QoS 2 PUBLISH. Null (default): the CONNACK's Maximum QoS on
    /// MQTT 5, QoS 2 on MQTT 3.1.1. On MQTT 5 the lower of this and the CONNACK's counts. What happens to a message above
    /// it is set by <see cref="QosAboveMaximum"/>.
    /// </summary>
    public MQTTnet.Protocol.MqttQualityOfServiceLevel? BrokerMaximumQos { get; set; }

    /// <summary>
    /// What happens to a message whose QoS is above the broker's maximum (the MQTT 5 CONNACK's Maximum QoS, or
    /// <see cref="BrokerMaximumQos"/>): <see cref="StoreForward.QosAboveMaximum.DeadLetter"/> (default) keeps it aside as a
    /// <see cref="DeadLetterReason.QosNotSupported"/> dead letter, <see cref="StoreForward.QosAboveMaximum.Downgrade"/>
    /// sends it at the broker's maximum, counted in <see cref="OutboxStatus.Downgraded"/> and logged once per connection.
    /// </summary>
    public QosAboveMaximum QosAboveMaximum { get; set; } = QosAboveMaximum.DeadLetter;

    /// <summary>
    /// Most QoS 1 and QoS 2 messages awaiting acknowledgement at once. On MQTT 5 the broker's Receive Maximum lowers it
    /// further. MQTT 3.1.1 has no way to learn the broker's limit, and a broker over it refuses the publish and drops the
    /// connection (Mosquitto: more than <c>max_inflight_messages</c>, default 20, unfinished QoS 2 messages), so the
    /// default matches Mosquitto's. Raise it for throughput where the broker allows more.
    /// </summary>
    public int MaxInFlight { get; set; } = 20;

    /// <summary>Largest accepted payload in bytes; larger payloads are refused by <see cref="StoreForwardPublisher.PublishAsync(string, ReadOnlyMemory{byte}, MQTTnet.Protocol.MqttQualityOfServiceLevel, bool, CancellationToken)"/>.</summary>
    public int MaxPayloadBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most messages the outbox holds, or null (default) for no limit. What a publish beyond it does is set by
    /// <see cref="OverflowPolicy"/>. The limit holds exactly, also under concurrent publishers: every publish is checked on
    /// the one thread that commits.
    /// </summary>
    public long? MaxPendingMessages { get; set; }

    /// <summary>
    /// Most topic and payload bytes the outbox holds (as <see cref="OutboxStatus.PendingBytes"/> counts them), or null
    /// (default) for no limit. A single message larger than this is refused at the call with an
    /// <see cref="ArgumentException"/>. The store file is larger than this by LiteDB's overhead.
    /// </summary>
    public long? MaxPendingBytes { get; set; }

    /// <summary>What a publish does when the outbox is full: <see cref="OverflowPolicy.Reject"/> (default), drop the oldest
    /// unsent messages, or wait for room.</summary>
    public OverflowPolicy OverflowPolicy { get; set; } = OverflowPolicy.Reject;

    /// <summary>
    /// How long a message lives when its publish gives no expiry of its own, or null (default): it never expires. A message
    /// that expired before it was sent is never sent, and <see cref="OutboxStatus.Expired"/> counts it. On MQTT 5 every
    /// message with an expiry carries the Message Expiry Interval of its remaining lifetime, so that the broker and its
    /// subscribers drop it once it is too old.
    /// </summary>
    public TimeSpan? DefaultMessageExpiry { get; set; }

    /// <summary>
    /// Topic filters (MQTT syntax: <c>+</c> one level, <c>#</c> the rest) of current-value topics whose messages coalesce:
    /// a new message on such a topic replaces the topic's previous one while that one was never sent, so a days-long
    /// outage costs one message per topic instead of one per sample. Empty (default): nothing coalesces.
    /// <see cref="OutboxStatus.Superseded"/> counts the replaced messages.
    /// </summary>
    public IList<string> CoalescedTopics { get; set; } = [];

    /// <summary>
    /// On how many connections after the first a message is resent without an acknowledgement before it becomes a dead
    /// letter (<see cref="DeadLetterReason.MaxDeliveryAttemptsExceeded"/>), or null (default): no limit. So it is sent at
    /// most this many times plus one. A message that makes the broker drop the connection (an MQTT 3.1.1 broker over its
    /// packet size, say) would otherwise be resent after every reconnect and block the queue forever. The count is kept in
    /// the store, so it survives restarts. A QoS 2 message whose PUBREC arrived is at the broker and only released, so it
    /// never counts.
    /// </summary>
    public int? MaxDeliveryAttempts { get; set; }

    /// <summary>
    /// The publisher's presence (online/offline) as a retained message and the connection's Will, or null (default): none.
    /// See <see cref="PresenceOptions"/>.
    /// </summary>
    public PresenceOptions? Presence { get; set; }

    /// <summary>
    /// Most messages per second sent for the first time, or null (default): as fast as the broker takes them. For brokers
    /// that disconnect a client above a rate (AWS IoT Core: 100 publishes per second per connection) and for small brokers
    /// and bridges that a backlog would flood after an outage. Resends after a reconnect and PUBRELs are not held back, so
    /// they never wait behind new messages. The rate is kept evenly, with bursts of at most a fiftieth of a second's worth
    /// (at least two); the load tool measured 1.04× the rate in the busiest second at 100 per second, so set it a few
    /// percent under a broker's hard limit.
    /// </summary>
    public int? MaxPublishRate { get; set; }

    /// <summary>
    /// Most topic and payload bytes per second sent for the first time (AWS IoT Core: 512 KiB per second per connection),
    /// or null (default): no limit. A message is sent once the bytes of the messages before it are paid for, and its own
    /// bytes hold back the ones after it, so the rate holds whatever the sizes (the busiest second carries about the rate,
    /// a fiftieth of it and one message; set it a few percent under a broker's hard limit).
    /// </summary>
    public int? MaxPublishByteRate { get; set; }

    /// <summary>
    /// Whether every message carries, on MQTT 5, its publisher's ClientId and its sequence as the user properties
    /// <see cref="Subscribing.MessageIdentity.ClientIdProperty"/> and
    /// <see cref="Subscribing.MessageIdentity.SequenceProperty"/>, so that a subscriber with a
    /// <see cref="Subscribing.DuplicateFilter"/> (namespace <c>StoreForward.Subscribing</c>) processes each QoS 1 message
    /// once, even when it was delivered again after a reconnect or a crash. Default false. MQTT 3.1.1 has no user
    /// properties: there nothing is added.
    /// </summary>
    public bool StampMessageIdentity { get; set; }

    /// <summary>
    /// What a QoS 0 publish does while no session is up: <see cref="Qos0WhenOffline.Store"/> (default) keeps it for the
    /// reconnect like any message, <see cref="Qos0WhenOffline.Drop"/> discards it at the call.
    /// </summary>
    public Qos0WhenOffline Qos0WhenOffline { get; set; } = Qos0WhenOffline.Store;

    /// <summary>Median delay before the first reconnect attempt; later attempts back off exponentially with jitter.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound of the reconnect delay.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Adds random jitter to reconnect delays so that a fleet does not reconnect in lockstep.</summary>
    public bool ReconnectJitter { get; set; } = true;

    /// <summary>
    /// Where the publisher logs (category <c>StoreForward</c>): the store opened with its backlog, connects, disconnects
    /// with their reason, reconnect backoff, lost sessions, dead letters. Payloads and credentials are never logged. Null
    /// (default): no logging. <c>AddStoreForward</c> sets the host's.
    /// </summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Clock for keep-alive, backoff and timestamps. Replace it in tests (for example with a fake time provider).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The Session Expiry Interval in seconds as MQTT 5 sends it (uint.MaxValue: never expires).</summary>
    internal uint SessionExpirySeconds =>
        SessionExpiry.TotalSeconds >= uint.MaxValue ? uint.MaxValue : (uint)Math.Ceiling(SessionExpiry.TotalSeconds);
}
