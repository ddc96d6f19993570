using MQTTnet.Protocol;

namespace StoreForward;

/// <summary>
/// The publisher's presence on the broker, so that nobody is blind to its state after a broker restart or a crash (the
/// idea of Sparkplug's birth and death certificates): every CONNECT carries a retained Will with
/// <see cref="OfflinePayload"/> on <see cref="Topic"/>, every connection first publishes <see cref="OnlinePayload"/> there,
/// retained, before the backlog resumes, and a graceful stop publishes <see cref="OfflinePayload"/> and disconnects
/// normally (so the broker drops the Will). A subscriber to the topic always gets the current state as a retained message.
/// </summary>
public sealed class PresenceOptions
{
    /// <summary>The topic the state is published on, retained; a topic name (no wildcards), for example <c>plant/gateway-7/state</c>.</summary>
    public required string Topic { get; set; }

    /// <summary>The payload that says the publisher is connected (UTF-8). Default <c>online</c>.</summary>
    public string OnlinePayload { get; set; } = "online";

    /// <summary>The payload that says it is not: its Will, and what a graceful stop publishes (UTF-8). Default <c>offline</c>.</summary>
    public string OfflinePayload { get; set; } = "offline";

    /// <summary>
    /// The QoS of the state messages and the Will: <see cref="MqttQualityOfServiceLevel.AtLeastOnce"/> (default) or
    /// <see cref="MqttQualityOfServiceLevel.AtMostOnce"/>. A retained state message repeated changes nothing, so QoS 2
    /// would only add a handshake before the backlog resumes.
    /// </summary>
    public MqttQualityOfServiceLevel Qos { get; set; } = MqttQualityOfServiceLevel.AtLeastOnce;

    /// <summary>
    /// MQTT 5's Will Delay Interval: how long the broker waits after losing the connection before it publishes the Will,
    /// so that a quick reconnect does not flap the state. Null (default): at once. Not on MQTT 3.1.1, which has no such
    /// interval. The broker also publishes the Will when the session expires, whichever comes first.
    /// </summary>
    public TimeSpan? WillDelay { get; set; }
}
