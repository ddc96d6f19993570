namespace StoreForward.Transport;

/// <summary>The connection ended: closed by the broker, reset, or silent for longer than the keep-alive allows.</summary>
internal sealed class LinkLostException(string message, Exception? inner = null) : Exception(message, inner);
