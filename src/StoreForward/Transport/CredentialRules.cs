using System.Text;
using MQTTnet.Formatter;

namespace StoreForward.Transport;

/// <summary>
/// What CONNECT can carry as credentials, checked in one place for the static options at start and for a provider's
/// answer before each connection.
/// </summary>
internal static class CredentialRules
{
    /// <summary>Which field cannot be sent, and why (never quoting a value), or null when all can.</summary>
    public static (string Field, string Problem)? Problem(string? username, string? password, MqttProtocolVersion version)
    {
        if (username is not null && MqttStrings.Problem(username) is { } problem)
            return ("Username", problem);
        if (password is not null && Encoding.UTF8.GetByteCount(password) is var bytes && bytes > MqttStrings.MaxBytes)
            return ("Password", $"is {bytes:N0} UTF-8 bytes long; MQTT allows at most {MqttStrings.MaxBytes:N0}");
        if (password is not null && username is null && version == MqttProtocolVersion.V311)
            return ("Password", "needs a Username on MQTT 3.1.1, which cannot send a password alone");
        return null;
    }

    /// <summary>As <see cref="Problem(string?, string?, MqttProtocolVersion)"/>, with MQTT 5's authentication method and data.</summary>
    public static (string Field, string Problem)? Problem(MqttCredentials credentials, MqttProtocolVersion version)
    {
        if (Problem(credentials.Username, credentials.Password, version) is { } problem)
            return problem;
        if (credentials.AuthenticationMethod is { } method)
        {
            if (version != MqttProtocolVersion.V500)
                return ("AuthenticationMethod", "needs MQTT 5, the version with enhanced authentication");
            if (MqttStrings.Problem(method) is { } methodProblem)
                return ("AuthenticationMethod", methodProblem);
        }
        else if (credentials.AuthenticationData is not null)
        {
            return ("AuthenticationData", "is set without an AuthenticationMethod");
        }

        return credentials.AuthenticationData is { Length: > MqttStrings.MaxBytes } data
            ? ("AuthenticationData", $"is {data.Length:N0} bytes long; MQTT allows at most {MqttStrings.MaxBytes:N0}")
            : null;
    }
}
