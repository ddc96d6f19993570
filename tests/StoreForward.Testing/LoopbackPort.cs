namespace StoreForward.Tests.Infrastructure;

/// <summary>Free loopback ports for brokers and clients that must never talk to anything but 127.0.0.1.</summary>
public static class LoopbackPort
{
    /// <summary>
    /// A loopback port nothing listens on right now: the OS picks it for a listener that is closed at once. Another
    /// process may take it before the caller does; callers that bind it retry with another.
    /// </summary>
    public static int Unused()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
