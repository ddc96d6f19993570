using System.Globalization;

namespace StoreForward.Transport;

/// <summary>
/// One server the publisher may connect to: an entry of <see cref="StoreForwardOptions.Servers"/>, or
/// <see cref="StoreForwardOptions.Host"/> and <see cref="StoreForwardOptions.Port"/> when no list is given.
/// </summary>
/// <param name="Host">Host name or address (an IPv6 address without brackets).</param>
/// <param name="Port">TCP port.</param>
/// <param name="UseTls">Whether the connection uses TLS (with the settings of <see cref="StoreForwardOptions.Tls"/>).</param>
internal sealed record BrokerEndpoint(string Host, int Port, bool UseTls)
{
    public const string PlainScheme = "mqtt";
    public const string TlsScheme = "mqtts";

    /// <summary>
    /// The server's identity for the session it keeps: host and port, without the scheme. Two listeners of one broker
    /// count as two servers, which is safe: a switch between them only clears a session needlessly.
    /// </summary>
    public string SessionKey => $"{HostForDisplay}:{Port.ToString(CultureInfo.InvariantCulture)}";

    private string HostForDisplay => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;

    /// <summary>How logs, errors and <see cref="OutboxStatus.Server"/> name it: <c>mqtt://host:port</c> or <c>mqtts://host:port</c>.</summary>
    public override string ToString() => $"{(UseTls ? TlsScheme : PlainScheme)}://{SessionKey}";

    /// <summary>
    /// Reads one entry of <see cref="StoreForwardOptions.Servers"/>: <c>host:port</c> (TLS as <paramref name="tlsByDefault"/>
    /// says), <c>mqtt://host:port</c> (plain) or <c>mqtts://host:port</c> (TLS). An IPv6 address is written in brackets.
    /// Returns null and the problem when the entry is malformed.
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
        var schemeEnd = rest.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            var scheme = rest[..schemeEnd];
            if (scheme.Equals(PlainScheme, StringComparison.OrdinalIgnoreCase))
                useTls = false;
            else if (scheme.Equals(TlsScheme, StringComparison.OrdinalIgnoreCase))
                useTls = true;
            else
            {
                problem = $"has the unknown scheme '{scheme}' (use mqtt:// or mqtts://)";
                return null;
            }

            rest = rest[(schemeEnd + 3)..].TrimEnd('/');
        }

        if (rest.IndexOfAny(['/', '?', '#', '@', ' ']) >= 0)
        {
            problem = "must be host:port, with nothing else (no path, query or user)";
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

        return new BrokerEndpoint(host, port, useTls);
    }
}
