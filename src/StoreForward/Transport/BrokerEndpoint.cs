using System.Globalization;

namespace StoreForward.Transport;

/// <summary>
/// One server the publisher may connect to: an entry of <see cref="StoreForwardOptions.Servers"/>, or
/// <see cref="StoreForwardOptions.Host"/> and <see cref="StoreForwardOptions.Port"/> when no list is given.
/// </summary>
/// <param name="Host">Host name or address (an IPv6 address without brackets).</param>
/// <param name="Port">TCP port.</param>
/// <param name="UseTls">Whether the connection uses TLS (with the settings of <see cref="StoreForwardOptions.Tls"/>).</param>
/// <param name="WebSocketPath">For MQTT over WebSockets (<c>ws://</c>, <c>wss://</c>) the HTTP path; null for TCP.</param>
internal sealed record BrokerEndpoint(string Host, int Port, bool UseTls, string? WebSocketPath = null)
{
    public const string PlainScheme = "mqtt";
    public const string TlsScheme = "mqtts";
    public const string WebSocketScheme = "ws";
    public const string SecureWebSocketScheme = "wss";

    /// <summary>
    /// The server's identity for the session it keeps: host and port (and a WebSocket's path, as one port may lead to
    /// several brokers by path), without the scheme. Two listeners of one broker count as two servers, which is safe: a
    /// switch between them only clears a session needlessly.
    /// </summary>
    public string SessionKey => $"{HostForDisplay}:{Port.ToString(CultureInfo.InvariantCulture)}{WebSocketPath}";

    private string HostForDisplay => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;

    private string Scheme => (WebSocketPath is null, UseTls) switch
    {
        (true, false) => PlainScheme,
        (true, true) => TlsScheme,
        (false, false) => WebSocketScheme,
        (false, true) => SecureWebSocketScheme,
    };

    /// <summary>
    /// How logs, errors and <see cref="OutboxStatus.Server"/> name it: <c>mqtt://host:port</c>, <c>mqtts://host:port</c>,
    /// <c>ws://host:port/path</c> or <c>wss://host:port/path</c>. For a WebSocket this is also the URI it connects to.
    /// </summary>
    public override string ToString() => $"{Scheme}://{SessionKey}";

    /// <summary>
    /// Reads one entry of <see cref="StoreForwardOptions.Servers"/>: <c>host:port</c> (TLS as <paramref name="tlsByDefault"/>
    /// says), <c>mqtt://host:port</c> (plain), <c>mqtts://host:port</c> (TLS), <c>ws://host:port/path</c> or
    /// <c>wss://host:port/path</c> (MQTT over WebSockets, plain or TLS; the path defaults to <c>/</c>). An IPv6 address is
    /// written in brackets. Returns null and the problem when the entry is malformed.
    /// </summary>
    public static BrokerEndpoint? TryParse(string? entry, bool tlsByDefault, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(entry))
        {
            problem = "is empty";
            return null;
        }

        var rest = entry.Trim();
        var useTls = tlsByDefault;
        string? path = null;
        var schemeEnd = rest.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            var scheme = rest[..schemeEnd].ToLowerInvariant();
            useTls = scheme is TlsScheme or SecureWebSocketScheme;
            if (scheme is not (PlainScheme or TlsScheme or WebSocketScheme or SecureWebSocketScheme))
            {
                problem = $"has the unknown scheme '{rest[..schemeEnd]}' (use mqtt://, mqtts://, ws:// or wss://)";
                return null;
            }

            rest = rest[(schemeEnd + 3)..];
            if (scheme is WebSocketScheme or SecureWebSocketScheme)
            {
                var slash = rest.IndexOf('/', StringComparison.Ordinal);
                path = slash < 0 ? "/" : rest[slash..];
                rest = slash < 0 ? rest : rest[..slash];
                if (path.IndexOfAny(['?', '#', ' ']) >= 0)
                {
                    problem = "has a query, fragment or space in its path (write ws://host:port/path)";
                    return null;
                }
            }
            else
            {
                rest = rest.TrimEnd('/');
            }
        }

        if (rest.IndexOfAny(['/', '?', '#', '@', ' ']) >= 0)
        {
            problem = path is null ? "must be host:port, with nothing else (no path, query or user)" : "must be host:port before the path, with no user";
            return null;
        }

        var colon = rest.LastIndexOf(':');
        var bracketClose = rest.LastIndexOf(']');
        if (colon < 0 || colon < bracketClose)
        {
            problem = "has no port (write host:port)";
            return null;
        }

        var host = rest[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
            host = host[1..^1];
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            problem = "has an IPv6 address without brackets (write [address]:port)";
            return null;
        }

        if (host.Length == 0)
        {
            problem = "has an empty host";
            return null;
        }

        if (!int.TryParse(rest.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65_535)
        {
            problem = $"has the port '{rest[(colon + 1)..]}', which is not between 1 and 65535";
            return null;
        }

        return new BrokerEndpoint(host, port, useTls, path);
    }
}
