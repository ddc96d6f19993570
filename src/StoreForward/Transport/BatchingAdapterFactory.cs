using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;

namespace StoreForward.Transport;

/// <summary>
/// Gives MQTTnet's low-level client a TCP or WebSocket channel wrapped in a <see cref="BatchingChannel"/>, and keeps that
/// channel for the connection that owns it. One factory per connection. Over WebSockets a batch leaves as one message,
/// which MQTT allows (a WebSocket message may carry several MQTT packets).
/// </summary>
internal sealed class BatchingAdapterFactory : IMqttClientAdapterFactory
{
    public BatchingChannel? Channel { get; private set; }

    public IMqttChannelAdapter CreateClientAdapter(MqttClientOptions options, MqttPacketInspector packetInspector, IMqttNetLogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Channel = new BatchingChannel(options.ChannelOptions is MqttClientWebSocketOptions webSocket ? new MqttWebSocketChannel(webSocket) : new MqttTcpChannel(options));
        var formatter = new MqttPacketFormatterAdapter(options.ProtocolVersion, new MqttBufferWriter(options.WriterBufferSize, options.WriterBufferSizeMax));

        // One write per packet (header and payload joined), which the channel then joins with the rest of the batch.
        return new MqttChannelAdapter(Channel, formatter, logger) { AllowPacketFragmentation = false, PacketInspector = packetInspector };
    }
}
