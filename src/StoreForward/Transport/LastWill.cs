using MQTTnet.Protocol;

namespace StoreForward.Transport;

/// <summary>The Will every CONNECT carries: published retained by the broker when the connection ends without DISCONNECT.</summary>
/// <param name="Topic">Where the broker publishes it.</param>
/// <param name="Payload">What it publishes.</param>
/// <param name="Qos">With which QoS.</param>
/// <param name="DelaySeconds">MQTT 5's Will Delay Interval (0: at once); not sent on MQTT 3.1.1.</param>
internal sealed record LastWill(string Topic, byte[] Payload, MqttQualityOfServiceLevel Qos, uint DelaySeconds);
