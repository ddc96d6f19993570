namespace StoreForward;

/// <summary>
/// An HTTP proxy for MQTT over WebSockets (<c>ws://</c> and <c>wss://</c> entries of <see cref="StoreForwardOptions.Servers"/>),
/// for networks whose firewall lets only web traffic out. A <c>wss://</c> connection goes through the proxy as an HTTP
/// CONNECT tunnel, so TLS still runs end to end with the broker's certificate checked. Plain TCP (<c>mqtt://</c>,
/// <c>mqtts://</c>) cannot use a proxy.
/// </summary>
public sealed class WebSocketProxyOptions
{
    /// <summary>The proxy, as <c>http://host:port</c>.</summary>
    public string? Address { get; set; }

    /// <summary>The user name for the proxy's Basic authentication, or null for none.</summary>
    public string? Username { get; set; }

    /// <summary>The proxy's password, or null. Never logged, never part of an error message, never stored.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// Hosts reached directly instead, as regular expressions matched against the server's URI (.NET's
    /// <see cref="System.Net.WebProxy.BypassList"/>), for example <c>^wss://broker\.plant\.local</c>. Empty (default): none.
    /// </summary>
    public IList<string> BypassList { get; set; } = [];

    /// <summary>Whether local hosts (names without a dot) are reached directly. Default false. .NET never sends loopback addresses through a proxy.</summary>
    public bool BypassOnLocal { get; set; }
}
