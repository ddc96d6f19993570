namespace StoreForward.Transport;

/// <summary>The broker answered CONNECT with a refusal (bad credentials, not authorised, server unavailable, ...).</summary>
internal sealed class MqttConnectionRefusedException(string message, int code) : Exception(message)
{
    /// <summary>The CONNACK return code (3.1.1) or reason code (5).</summary>
    public int Code { get; } = code;
}
