using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests;

internal static class TestOptions
{
    /// <summary>Options for a publisher whose broker is never reachable (a port nothing listens on).</summary>
    public static StoreForwardOptions Offline(string storePath, string clientId = "test-client") =>
        new()
        {
            ClientId = clientId,
            Host = "127.0.0.1",
            Port = LoopbackPort.Unused(),
            StorePath = storePath,
            ReconnectInitialDelay = TimeSpan.FromSeconds(30),
            ReconnectMaxDelay = TimeSpan.FromSeconds(60),
        };
}
