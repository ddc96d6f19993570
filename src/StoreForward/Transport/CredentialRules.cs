using System.Text;
using MQTTnet.Formatter;

namespace StoreForward.Transport;

/// <summary>
/// What CONNECT can carry as user name and password, checked in one place for the static options at start and for a
/// provider's answer before each connection.
/// </summary>
internal static class CredentialRules
{
    /// <summary>Which of the two cannot be sent, and why (never quoting a value), or null when both can.</summary>
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
}
