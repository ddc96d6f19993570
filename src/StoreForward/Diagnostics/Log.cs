using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace StoreForward.Diagnostics;

/// <summary>
/// The publisher's log events (source-generated, so a disabled level costs a check). None carries a payload or a
/// credential: topics, sequences, counts, endpoints and error messages only.
/// </summary>
internal static partial class Log
{
    public const string Category = "StoreForward";

    public static ILogger For(ILoggerFactory? factory) => factory?.CreateLogger(Category) ?? NullLogger.Instance;

    [LoggerMessage(EventId = 1, EventName = "StoreOpened", Level = LogLevel.Information,
        Message = "Outbox {StorePath} opened with {PendingMessages} pending messages ({PendingBytes} bytes)")]
    public static partial void StoreOpened(ILogger logger, string storePath, long pendingMessages, long pendingBytes);

    [LoggerMessage(EventId = 2, EventName = "Connected", Level = LogLevel.Information,
        Message = "Connected to {Server} ({ProtocolVersion}), session present: {SessionPresent}, window {Window}")]
    public static partial void Connected(ILogger logger, Transport.BrokerEndpoint server, MQTTnet.Formatter.MqttProtocolVersion protocolVersion, bool sessionPresent, int window);

    [LoggerMessage(EventId = 3, EventName = "ConnectFailed", Level = LogLevel.Warning,
        Message = "Connecting to {Server} failed: {Reason}")]
    public static partial void ConnectFailed(ILogger logger, Transport.BrokerEndpoint server, string reason);

    [LoggerMessage(EventId = 4, EventName = "Disconnected", Level = LogLevel.Warning,
        Message = "The session with {Server} ended: {Reason}")]
    public static partial void Disconnected(ILogger logger, Transport.BrokerEndpoint server, string reason);

    [LoggerMessage(EventId = 5, EventName = "Backoff", Level = LogLevel.Information,
        Message = "Reconnecting in {Delay}")]
    public static partial void Backoff(ILogger logger, TimeSpan delay);

    [LoggerMessage(EventId = 6, EventName = "SessionLost", Level = LogLevel.Warning,
        Message = "The broker had lost the session; {InFlight} in-flight messages are published anew")]
    public static partial void SessionLost(ILogger logger, int inFlight);

    [LoggerMessage(EventId = 7, EventName = "DeadLettered", Level = LogLevel.Warning,
        Message = "Message #{Sequence} to {Topic} moved to the dead letters ({Reason}): {Detail}")]
    public static partial void DeadLettered(ILogger logger, long sequence, string topic, DeadLetterReason reason, string detail);

    [LoggerMessage(EventId = 8, EventName = "RecordUnreadable", Level = LogLevel.Error,
        Message = "Message {Sequence} in {StorePath} is unreadable and was never published; it is kept as a dead letter (reason Unreadable): {Detail}")]
    public static partial void RecordUnreadable(ILogger logger, long sequence, string storePath, string detail);

    [LoggerMessage(EventId = 9, EventName = "QosDowngraded", Level = LogLevel.Warning,
        Message = "The broker {Server} {Detail}")]
    public static partial void QosDowngraded(ILogger logger, Transport.BrokerEndpoint server, string detail);

    [LoggerMessage(EventId = 10, EventName = "FailingBack", Level = LogLevel.Information,
        Message = "{Preferred} answers again; leaving {Server} once its in-flight messages are acknowledged, to reconnect in the order of Servers")]
    public static partial void FailingBack(ILogger logger, Transport.BrokerEndpoint preferred, Transport.BrokerEndpoint server);

    [LoggerMessage(EventId = 11, EventName = "PublishPaced", Level = LogLevel.Information,
        Message = "New messages wait for the publish rate limits (MaxPublishRate {MaxPublishRate} messages/s, MaxPublishByteRate {MaxPublishByteRate} bytes/s); logged once per connection")]
    public static partial void PublishPaced(ILogger logger, int? maxPublishRate, int? maxPublishByteRate);

    [LoggerMessage(EventId = 12, EventName = "PresenceRefused", Level = LogLevel.Warning,
        Message = "{Server} did not take the presence message on {Topic}: {Reason}; the messages are delivered all the same")]
    public static partial void PresenceRefused(ILogger logger, Transport.BrokerEndpoint server, string topic, string reason);

    [LoggerMessage(EventId = 13, EventName = "RenewingCredentials", Level = LogLevel.Information,
        Message = "The credentials for {Server} expire at {ExpiresAt}, and {Reason}: finishing what is in flight, then connecting again with new ones")]
    public static partial void RenewingCredentials(ILogger logger, Transport.BrokerEndpoint server, DateTimeOffset expiresAt, string reason);

    [LoggerMessage(EventId = 14, EventName = "Reauthenticating", Level = LogLevel.Information,
        Message = "Re-authenticating with {Server} ({Method}) before the credentials expire")]
    public static partial void Reauthenticating(ILogger logger, Transport.BrokerEndpoint server, string method);

    [LoggerMessage(EventId = 15, EventName = "OthersPendingInStore", Level = LogLevel.Warning,
        Message = "The outbox {StorePath} is new for the ClientId {ClientId}, and the store holds {PendingMessages} pending messages of other ClientIds ({Others}); they wait for a publisher with their ClientId. If {ClientId} replaces one of them, start it with the old ClientId to deliver them")]
    public static partial void OthersPendingInStore(ILogger logger, string storePath, string clientId, long pendingMessages, string others);
}
