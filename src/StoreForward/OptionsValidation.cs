using MQTTnet.Formatter;
using StoreForward.Transport;

namespace StoreForward;

/// <summary>
/// The rules of <see cref="StoreForwardOptions"/>, apart from the options themselves so that the public type stays a
/// plain bag of settings: <see cref="StoreForwardPublisher.StartAsync(StoreForwardOptions, CancellationToken)"/> and the
/// hosting package's validation apply the same checks, and every error names the option.
/// </summary>
internal static class OptionsValidation
{
    /// <summary>The error for an option: <paramref name="name"/> is also its ParamName, so a caller can tell which one.</summary>
    private static ArgumentException Bad(string name, string problem) => Refusal($"StoreForwardOptions.{name} {problem}", name);

    private static ArgumentException Refusal(string message, string name) => new(message, name);

    /// <summary>Checks every setting and throws an <see cref="ArgumentException"/> that names the first bad one.</summary>
    public static void Validate(StoreForwardOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.ClientId))
            throw Bad(nameof(StoreForwardOptions.ClientId), "must not be empty: a persistent session needs a static client id.");
        if (MqttStrings.Problem(options.ClientId) is { } clientIdProblem)
            throw Bad(nameof(StoreForwardOptions.ClientId), $"'{MqttStrings.Shorten(options.ClientId)}' {clientIdProblem}.");
        if (options.Servers is null)
            throw Bad(nameof(StoreForwardOptions.Servers), "must not be null (empty: Host and Port).");
        if (options.Servers.Count > 0 && (options.Host is not null || options.Port is not null))
            throw Bad(nameof(StoreForwardOptions.Servers), $"and StoreForwardOptions.Host/Port are both set ({(options.Host is null ? "" : $"Host '{options.Host}' ")}{(options.Port is null ? "" : $"Port {options.Port}")}); give the brokers in one place: leave Host and Port unset when Servers lists them.");
        if (options.Host is not null && string.IsNullOrWhiteSpace(options.Host))
            throw Bad(nameof(StoreForwardOptions.Host), "must not be empty (null: localhost).");
        if (options.Port is < 1 or > 65_535)
            throw Bad(nameof(StoreForwardOptions.Port), $"must be between 1 and 65535, but is {options.Port}.");
        var endpoints = Endpoints(options);
        if (options.FailbackInterval is { } failback && failback <= TimeSpan.Zero)
            throw Bad(nameof(StoreForwardOptions.FailbackInterval), $"must be more than zero (or null: never return to an earlier server), but is {failback}.");
        if (options.BrokerMaximumQos is { } maximumQos && !Enum.IsDefined(maximumQos))
            throw Bad(nameof(StoreForwardOptions.BrokerMaximumQos), $"must be AtMostOnce, AtLeastOnce or ExactlyOnce (or null: as the broker says), but is {(int)maximumQos}.");
        if (!Enum.IsDefined(options.QosAboveMaximum))
            throw Bad(nameof(StoreForwardOptions.QosAboveMaximum), $"must be DeadLetter or Downgrade, but is {(int)options.QosAboveMaximum}.");
        if (string.IsNullOrWhiteSpace(options.StorePath))
            throw Bad(nameof(StoreForwardOptions.StorePath), "must name a file.");
        if (options.EncryptionKey is { Length: not Outbox.RecordCipher.KeySize })
            throw Bad(nameof(StoreForwardOptions.EncryptionKey), $"must be {Outbox.RecordCipher.KeySize} bytes (AES-256), but is {options.EncryptionKey.Length} bytes.");
        if (options.ProtocolVersion is not (MqttProtocolVersion.V311 or MqttProtocolVersion.V500))
            throw Bad(nameof(StoreForwardOptions.ProtocolVersion), $"must be V311 or V500, but is {options.ProtocolVersion}.");
        if (options.ProtocolVersion == MqttProtocolVersion.V500 && options.SessionExpiry <= TimeSpan.Zero)
            throw Bad(nameof(StoreForwardOptions.SessionExpiry), "must be more than zero on MQTT 5: with expiry 0 the broker keeps no session and QoS 2 cannot resume.");
        if (options.KeepAlive < TimeSpan.FromSeconds(1) || options.KeepAlive.TotalSeconds > ushort.MaxValue)
            throw Bad(nameof(StoreForwardOptions.KeepAlive), $"must be between 1 and 65535 seconds, but is {options.KeepAlive}.");
        if (options.AckTimeout <= TimeSpan.Zero)
            throw Bad(nameof(StoreForwardOptions.AckTimeout), "must be more than zero.");
        if (options.CommitInterval < TimeSpan.Zero || options.CommitInterval > TimeSpan.FromSeconds(1))
            throw Bad(nameof(StoreForwardOptions.CommitInterval), $"must be between zero and one second (every publish waits up to this long for its commit), but is {options.CommitInterval}.");
        if (options.ConnectTimeout <= TimeSpan.Zero)
            throw Bad(nameof(StoreForwardOptions.ConnectTimeout), "must be more than zero.");
        if (CredentialRules.Problem(options.Username, options.Password, options.ProtocolVersion) is var (field, credentialProblem))
            throw Bad(field, credentialProblem + ".");
        if (options.CredentialsProvider is not null && (options.Username ?? options.Password) is not null)
            throw Bad(nameof(StoreForwardOptions.CredentialsProvider), "is set together with Username or Password: give one (the provider's credentials would replace them).");
        Transport.BrokerTls.Validate(options.Tls ?? throw Bad(nameof(StoreForwardOptions.Tls), "must not be null."), endpoints);
        if (options.MaxInFlight is < 1 or > 65_535)
            throw Bad(nameof(StoreForwardOptions.MaxInFlight), $"must be between 1 and 65535, but is {options.MaxInFlight}.");
        if (options.MaxPayloadBytes < 0 || options.MaxPayloadBytes > StoreForwardOptions.MaxStorablePayloadBytes)
            throw Bad(nameof(StoreForwardOptions.MaxPayloadBytes), $"must be between 0 and {StoreForwardOptions.MaxStorablePayloadBytes} bytes, but is {options.MaxPayloadBytes}.");
        if (options.MaxPendingMessages is < 1)
            throw Bad(nameof(StoreForwardOptions.MaxPendingMessages), $"must be at least 1 (or null for no limit), but is {options.MaxPendingMessages}.");
        if (options.MaxPendingBytes is < 1)
            throw Bad(nameof(StoreForwardOptions.MaxPendingBytes), $"must be at least 1 (or null for no limit), but is {options.MaxPendingBytes}.");
        if (!Enum.IsDefined(options.OverflowPolicy))
            throw Bad(nameof(StoreForwardOptions.OverflowPolicy), $"must be Reject, DropOldest or Wait, but is {(int)options.OverflowPolicy}.");
        if (options.DefaultMessageExpiry is { } expiry && (expiry < TimeSpan.FromSeconds(1) || expiry.TotalSeconds > uint.MaxValue))
            throw Bad(nameof(StoreForwardOptions.DefaultMessageExpiry), $"must be between 1 second and {uint.MaxValue} seconds (or null: never), but is {expiry}.");
        if (options.CoalescedTopics is null)
            throw Bad(nameof(StoreForwardOptions.CoalescedTopics), "must not be null (empty: nothing coalesces).");
        foreach (var filter in options.CoalescedTopics)
        {
            if (Publishing.TopicFilter.Problem(filter) is { } problem)
                throw Bad(nameof(StoreForwardOptions.CoalescedTopics), $"holds an invalid topic filter: {problem}.");
        }

        if (options.WebSocketProxy is { } proxy)
            ValidateProxy(proxy, endpoints);
        if (options.Presence is { } presence)
            ValidatePresence(presence, options.ProtocolVersion);
        if (options.MaxPublishRate is < 1)
            throw Bad(nameof(StoreForwardOptions.MaxPublishRate), $"must be at least 1 message per second (or null for no limit), but is {options.MaxPublishRate}.");
        if (options.MaxPublishByteRate is < 1)
            throw Bad(nameof(StoreForwardOptions.MaxPublishByteRate), $"must be at least 1 byte per second (or null for no limit), but is {options.MaxPublishByteRate}.");
        if (options.MaxDeliveryAttempts is < 1)
            throw Bad(nameof(StoreForwardOptions.MaxDeliveryAttempts), $"must be at least 1 (or null for no limit), but is {options.MaxDeliveryAttempts}.");
        if (!Enum.IsDefined(options.Qos0WhenOffline))
            throw Bad(nameof(StoreForwardOptions.Qos0WhenOffline), $"must be Store or Drop, but is {(int)options.Qos0WhenOffline}.");
        if (options.ReconnectInitialDelay <= TimeSpan.Zero)
            throw Bad(nameof(StoreForwardOptions.ReconnectInitialDelay), "must be more than zero.");
        if (options.ReconnectMaxDelay < options.ReconnectInitialDelay)
            throw Bad(nameof(StoreForwardOptions.ReconnectMaxDelay), "must not be less than ReconnectInitialDelay.");
        if (options.TimeProvider is null)
            throw Bad(nameof(StoreForwardOptions.TimeProvider), "must not be null.");
    }

    /// <summary>
    /// The servers in order of preference: <see cref="StoreForwardOptions.Servers"/>, or the one
    /// <see cref="StoreForwardOptions.Host"/> and <see cref="StoreForwardOptions.Port"/> name. Throws an <see cref="ArgumentException"/> naming a malformed entry, or one naming the same server as an earlier one.
    /// </summary>
    public static IReadOnlyList<Transport.BrokerEndpoint> Endpoints(StoreForwardOptions options)
    {
        var tls = options.Tls?.Enabled ?? false;
        if (options.Servers.Count == 0)
            return [new Transport.BrokerEndpoint(options.Host ?? StoreForwardOptions.DefaultHost, options.Port ?? StoreForwardOptions.DefaultPort, tls)];

        var endpoints = new List<Transport.BrokerEndpoint>(options.Servers.Count);
        for (var i = 0; i < options.Servers.Count; i++)
        {
            if (Transport.BrokerEndpoint.TryParse(options.Servers[i], tls, out var problem) is not { } endpoint)
                throw Refusal($"StoreForwardOptions.Servers[{i}] '{options.Servers[i]}' {problem}.", nameof(StoreForwardOptions.Servers));
            var same = endpoints.FindIndex(e => string.Equals(e.SessionKey, endpoint.SessionKey, StringComparison.OrdinalIgnoreCase));
            if (same >= 0)
                throw Refusal($"StoreForwardOptions.Servers[{i}] '{options.Servers[i]}' names the same server as Servers[{same}].", nameof(StoreForwardOptions.Servers));
            endpoints.Add(endpoint);
        }

        return endpoints;
    }

    private static void ValidatePresence(PresenceOptions presence, MqttProtocolVersion version)
    {
        const string Name = nameof(StoreForwardOptions.Presence);
        if (presence.Topic is null)
            throw Bad($"{Name}.{nameof(PresenceOptions.Topic)}", "must not be null.");
        if (MqttStrings.TopicProblem(presence.Topic) is { } topicProblem)
            throw Bad($"{Name}.{nameof(PresenceOptions.Topic)}", $"'{MqttStrings.Shorten(presence.Topic)}' {topicProblem}.");
        foreach (var (payload, name) in new[] { (presence.OnlinePayload, nameof(PresenceOptions.OnlinePayload)), (presence.OfflinePayload, nameof(PresenceOptions.OfflinePayload)) })
        {
            // The offline payload is the Will's message, which MQTT limits to 65,535 bytes; the online one shares the rule.
            if (payload is null || System.Text.Encoding.UTF8.GetByteCount(payload) > MqttStrings.MaxBytes)
                throw Bad($"{Name}.{name}", $"must be set and at most {MqttStrings.MaxBytes:N0} UTF-8 bytes (empty is allowed).");
        }

        if (presence.Qos is not (MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce or MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce))
            throw Bad($"{Name}.{nameof(PresenceOptions.Qos)}", $"must be AtMostOnce or AtLeastOnce, but is {presence.Qos}: a retained state repeated changes nothing, so QoS 2's handshake would only hold the backlog back.");
        if (presence.WillDelay is { } delay)
        {
            if (version != MqttProtocolVersion.V500)
                throw Bad($"{Name}.{nameof(PresenceOptions.WillDelay)}", "needs MQTT 5: MQTT 3.1.1 has no Will Delay Interval (leave it null, the Will goes at once).");
            if (delay < TimeSpan.Zero || delay.TotalSeconds > uint.MaxValue)
                throw Bad($"{Name}.{nameof(PresenceOptions.WillDelay)}", $"must be between zero and {uint.MaxValue} seconds, but is {delay}.");
        }
    }

    private static void ValidateProxy(WebSocketProxyOptions proxy, IReadOnlyList<BrokerEndpoint> endpoints)
    {
        const string Name = nameof(StoreForwardOptions.WebSocketProxy);
        if (!endpoints.Any(e => e.WebSocketPath is not null))
            throw Bad(Name, "is set, but no entry of Servers is ws:// or wss://: MQTT over TCP cannot go through an HTTP proxy.");
        if (!Uri.TryCreate(proxy.Address, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https") || address.Host.Length == 0)
            throw Bad($"{Name}.{nameof(WebSocketProxyOptions.Address)}", $"'{proxy.Address}' does not parse as http://host:port.");
        if (proxy.Password is not null && proxy.Username is null)
            throw Bad($"{Name}.{nameof(WebSocketProxyOptions.Password)}", "is set without a Username.");
        if (proxy.BypassList is null)
            throw Bad($"{Name}.{nameof(WebSocketProxyOptions.BypassList)}", "must not be null (empty: no host bypasses the proxy).");
        for (var i = 0; i < proxy.BypassList.Count; i++)
        {
            try
            {
                _ = new System.Text.RegularExpressions.Regex(proxy.BypassList[i] ?? throw new ArgumentException("null"));
            }
            catch (ArgumentException e)
            {
                throw Refusal($"StoreForwardOptions.{Name}.{nameof(WebSocketProxyOptions.BypassList)}[{i}] '{proxy.BypassList[i]}' is not a regular expression: {e.Message}", $"{Name}.{nameof(WebSocketProxyOptions.BypassList)}");
            }
        }
    }
}
