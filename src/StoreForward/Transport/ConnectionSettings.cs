using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace StoreForward.Transport;

/// <summary>
/// What every connection attempt is made with, read once from the publisher's options: the transport never sees the
/// options object, only these values.
/// </summary>
/// <param name="ClientId">The static ClientId every CONNECT carries.</param>
/// <param name="ProtocolVersion">MQTT 3.1.1 or 5.</param>
/// <param name="KeepAlive">The keep-alive CONNECT asks for; a broker's Server Keep Alive overrides it.</param>
/// <param name="SessionExpirySeconds">MQTT 5's Session Expiry Interval for a persistent session.</param>
/// <param name="ConnectTimeout">How long TCP, TLS and CONNACK together may take.</param>
/// <param name="BrokerMaximumQos">A Maximum QoS the app knows the broker has, for brokers that do not say so in CONNACK.</param>
/// <param name="Credentials">Asked for the user name and password before every attempt.</param>
/// <param name="Will">The Will every CONNECT carries, or null for none.</param>
/// <param name="Proxy">The HTTP proxy for WebSocket servers, or null for none.</param>
/// <param name="Tls">The TLS settings for <c>mqtts://</c> servers (a plain bag of values; files are read per attempt).</param>
/// <param name="Time">The clock for timeouts and the link's idle times.</param>
internal sealed record ConnectionSettings(
    string ClientId,
    MqttProtocolVersion ProtocolVersion,
    TimeSpan KeepAlive,
    uint SessionExpirySeconds,
    TimeSpan ConnectTimeout,
    MqttQualityOfServiceLevel? BrokerMaximumQos,
    IMqttCredentialsProvider Credentials,
    LastWill? Will,
    WebSocketProxyOptions? Proxy,
    StoreForwardTlsOptions Tls,
    TimeProvider Time)
;
