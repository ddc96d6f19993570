using MQTTnet.Protocol;

namespace StoreForward.Session;

/// <summary>The retained state messages a session publishes on <see cref="Topic"/>: online first, offline on a graceful goodbye.</summary>
/// <param name="Topic">The presence topic.</param>
/// <param name="Online">The payload that says connected.</param>
/// <param name="Offline">The payload that says not connected (also the connection's Will).</param>
/// <param name="Qos">0 or 1.</param>
internal sealed record PresenceMessages(string Topic, byte[] Online, byte[] Offline, MqttQualityOfServiceLevel Qos);
