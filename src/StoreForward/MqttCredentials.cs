namespace StoreForward;

/// <summary>
/// The credentials of one connection attempt, as an <see cref="IMqttCredentialsProvider"/> returns them: user name and
/// password, MQTT 5 enhanced authentication, and when they expire. Its text form never shows a secret.
/// </summary>
public sealed class MqttCredentials
{
    /// <summary>Credentials for CONNECT.</summary>
    /// <param name="username">The user name, or null for none.</param>
    /// <param name="password">The password (a token, say), or null for none; on MQTT 3.1.1 only with a user name.</param>
    public MqttCredentials(string? username, string? password)
    {
        Username = username;
        Password = password;
    }

    /// <summary>The user name, or null.</summary>
    public string? Username { get; }

    /// <summary>The password, or null. Never logged, never part of an error message, never stored.</summary>
    public string? Password { get; }

    /// <summary>
    /// MQTT 5 enhanced authentication: the method CONNECT names (for example <c>SCRAM-SHA-256</c>), or null for none. A
    /// broker that challenges it gets its answers from <see cref="IMqttCredentialsProvider.ContinueAuthenticationAsync"/>.
    /// </summary>
    public string? AuthenticationMethod { get; init; }

    /// <summary>MQTT 5 enhanced authentication: the data CONNECT carries with <see cref="AuthenticationMethod"/>, or null.</summary>
    public byte[]? AuthenticationData { get; init; }

    /// <summary>
    /// When these credentials stop working (a token's expiry), or null (default): never. They are renewed before that,
    /// when nine tenths of the time left at connecting have passed: with MQTT 5 enhanced authentication in band (AUTH,
    /// re-authenticate, with the provider's next credentials for the same method), otherwise by a normal reconnect that
    /// keeps the session. So a broker that drops a client at the token's expiry (Azure IoT Hub does) never does.
    /// </summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The user name and whether a password is set; never the password.</summary>
    public override string ToString() =>
        $"user {Username ?? "(none)"}, {(Password is null ? "no password" : "password set")}{(AuthenticationMethod is null ? "" : ", method " + AuthenticationMethod)}{(ExpiresAt is { } at ? $", expires {at:u}" : "")}";
}
