using Microsoft.Extensions.Logging;

namespace StoreForward.Session;

/// <summary>What every delivery session runs with, read once from the publisher's options.</summary>
/// <param name="MaxInFlight">Most publishes unacknowledged at once, before the broker's Receive Maximum and a learned quota.</param>
/// <param name="DowngradeAboveMaximumQos">Whether a message above the broker's Maximum QoS is sent at that maximum instead of set aside.</param>
/// <param name="IdentityStamp">The ClientId stamped on every MQTT 5 publish as the message's identity, or null for none.</param>
/// <param name="MaxDeliveryAttempts">After how many resends a message is set aside, or null for never.</param>
/// <param name="MaxPublishRate">Most first sends per second, or null for no limit.</param>
/// <param name="MaxPublishByteRate">Most topic and payload bytes of first sends per second, or null for no limit.</param>
/// <param name="Presence">The retained online and offline messages, or null for none.</param>
/// <param name="Credentials">Asked for new credentials before the link's expire, to re-authenticate in band.</param>
/// <param name="KeepAlive">The keep-alive asked for in CONNECT, for a broker that does not set its own.</param>
/// <param name="AckTimeout">How long the broker may owe an acknowledgement before the link counts as dead.</param>
/// <param name="Time">The clock for expiry, the keep-alive and acknowledgement times.</param>
/// <param name="Logger">Where the session's events go.</param>
internal sealed record SessionSettings(
    int MaxInFlight,
    bool DowngradeAboveMaximumQos,
    string? IdentityStamp,
    int? MaxDeliveryAttempts,
    int? MaxPublishRate,
    int? MaxPublishByteRate,
    PresenceMessages? Presence,
    IMqttCredentialsProvider Credentials,
    TimeSpan KeepAlive,
    TimeSpan AckTimeout,
    TimeProvider Time,
    ILogger Logger);
