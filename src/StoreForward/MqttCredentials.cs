namespace StoreForward;

/// <summary>
/// The user name and password of one connection attempt, as an <see cref="IMqttCredentialsProvider"/> returns them. Its
/// text form names the user but never shows the password.
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

    /// <summary>The user name and whether a password is set; never the password.</summary>
    public override string ToString() => $"user {Username ?? "(none)"}, {(Password is null ? "no password" : "password set")}";
}
