namespace StoreForward.Transport;

/// <summary>The broker sent something the protocol does not allow here; the connection is dropped and made anew.</summary>
internal sealed class MqttProtocolException(string message) : Exception(message);
