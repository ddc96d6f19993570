using System.Text;
using StoreForward.Reconnect;
using StoreForward.Session;
using StoreForward.Transport;

namespace StoreForward;

/// <summary>
/// Reads validated <see cref="StoreForwardOptions"/> into the values each inner layer takes. The layers below the public
/// API take these settings, never the options object, so that no arrow points back up to the root.
/// </summary>
internal static class LayerSettings
{
    public static EngineSettings Engine(StoreForwardOptions options)
    {
        var logger = Diagnostics.Log.For(options.LoggerFactory);
        var credentials = options.CredentialsProvider ?? new FixedCredentials(new MqttCredentials(options.Username, options.Password));
        return new EngineSettings(
            OptionsValidation.Endpoints(options),
            options.ServersShareSessions,
            options.FailbackInterval,
            new ConnectionSettings(
                options.ClientId,
                options.ProtocolVersion,
                options.KeepAlive,
                options.SessionExpirySeconds,
                options.ConnectTimeout,
                options.BrokerMaximumQos,
                credentials,
                Will(options.Presence),
                options.WebSocketProxy,
                options.Tls,
                options.TimeProvider),
            Session(options, credentials, logger),
            Reconnect(options),
            logger);
    }

    private static SessionSettings Session(StoreForwardOptions options, IMqttCredentialsProvider credentials, Microsoft.Extensions.Logging.ILogger logger) =>
        new(
            options.MaxInFlight,
            options.QosAboveMaximum == QosAboveMaximum.Downgrade,
            options.StampMessageIdentity ? options.ClientId : null,
            options.MaxDeliveryAttempts,
            options.MaxPublishRate,
            options.MaxPublishByteRate,
            options.Presence is { } presence
                ? new PresenceMessages(presence.Topic, Encoding.UTF8.GetBytes(presence.OnlinePayload), Encoding.UTF8.GetBytes(presence.OfflinePayload), presence.Qos)
                : null,
            credentials,
            options.KeepAlive,
            options.AckTimeout,
            options.TimeProvider,
            logger);

    private static LastWill? Will(PresenceOptions? presence) =>
        presence is null
            ? null
            : new LastWill(presence.Topic, Encoding.UTF8.GetBytes(presence.OfflinePayload), presence.Qos, (uint)Math.Ceiling(presence.WillDelay?.TotalSeconds ?? 0));

    private static ReconnectSettings Reconnect(StoreForwardOptions options) =>
        new(options.ReconnectInitialDelay, options.ReconnectMaxDelay, options.ReconnectJitter, options.TimeProvider);
}
