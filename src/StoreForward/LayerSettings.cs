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

        // The presence's offline state is also the connection's Will: one encoding serves both.
        PresenceMessages? presence = null;
        LastWill? will = null;
        if (options.Presence is { } p)
        {
            presence = new PresenceMessages(p.Topic, Encoding.UTF8.GetBytes(p.OnlinePayload), Encoding.UTF8.GetBytes(p.OfflinePayload), p.Qos);
            will = new LastWill(p.Topic, presence.Offline, p.Qos, (uint)Math.Ceiling(p.WillDelay?.TotalSeconds ?? 0));
        }

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
                will,
                options.WebSocketProxy,
                options.Tls,
                options.TimeProvider),
            Session(options, presence, credentials, logger),
            Reconnect(options),
            logger);
    }

    private static SessionSettings Session(
        StoreForwardOptions options, PresenceMessages? presence, IMqttCredentialsProvider credentials, Microsoft.Extensions.Logging.ILogger logger) =>
        new(
            options.MaxInFlight,
            options.QosAboveMaximum == QosAboveMaximum.Downgrade,
            options.StampMessageIdentity ? options.ClientId : null,
            options.MaxDeliveryAttempts,
            options.MaxPublishRate,
            options.MaxPublishByteRate,
            presence,
            credentials,
            options.KeepAlive,
            options.AckTimeout,
            options.TimeProvider,
            logger);

    private static ReconnectSettings Reconnect(StoreForwardOptions options) =>
        new(options.ReconnectInitialDelay, options.ReconnectMaxDelay, options.ReconnectJitter, options.TimeProvider);
}
