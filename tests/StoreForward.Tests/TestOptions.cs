namespace StoreForward.Tests;

internal static class TestOptions
{
    /// <summary>Options for a publisher whose broker is never reachable (a port nothing listens on).</summary>
    public static StoreForwardOptions Offline(string storePath, string clientId = "test-client") =>
        new()
        {
            ClientId = clientId,
            Host = "127.0.0.1",
            Port = UnusedPort(),
            StorePath = storePath,
            ReconnectInitialDelay = TimeSpan.FromSeconds(30),
            ReconnectMaxDelay = TimeSpan.FromSeconds(60),
        };

    /// <summary>
    /// A loopback port nothing listens on right now: the OS picks it for a listener that is closed at once. Another
    /// process may take it before the caller does; callers that bind it retry with another.
    /// </summary>
    public static int UnusedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
