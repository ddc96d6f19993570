using MQTTnet.Protocol;

namespace StoreForward.Transport;

/// <summary>
/// What a CONNACK refusal means for the operator. The code names alone mislead: Mosquitto answers a wrong password with
/// "not authorised" (0x87, or 5 on MQTT 3.1.1), not with "bad user name or password".
/// </summary>
internal static class ConnectRefusal
{
    public static string Meaning(MqttConnectReasonCode code) => code switch
    {
        MqttConnectReasonCode.BadUserNameOrPassword => "the user name or password is wrong",
        MqttConnectReasonCode.NotAuthorized => "the broker does not let this client in: a wrong or missing user name or password, or an authorisation rule",
        MqttConnectReasonCode.ClientIdentifierNotValid => "the broker does not accept the ClientId",
        MqttConnectReasonCode.Banned => "the broker bans this client",
        MqttConnectReasonCode.BadAuthenticationMethod => "the broker wants another authentication method",
        MqttConnectReasonCode.ServerUnavailable or MqttConnectReasonCode.ServerBusy => "the broker is unavailable or busy; retrying",
        MqttConnectReasonCode.QuotaExceeded or MqttConnectReasonCode.ConnectionRateExceeded => "the broker limits connections; retrying",
        MqttConnectReasonCode.UseAnotherServer or MqttConnectReasonCode.ServerMoved => "the broker points to another server",
        MqttConnectReasonCode.UnsupportedProtocolVersion => "the broker does not speak MQTT 5; set ProtocolVersion = V311",

        // MQTT 5 has no reason code 1: this is an MQTT 3.1.1 broker's "unacceptable protocol version" (aedes, RabbitMQ 3.10).
        (MqttConnectReasonCode)1 => "in MQTT 3.1.1's words, an unacceptable protocol version: the broker does not speak MQTT 5; set ProtocolVersion = V311",
        _ => "",
    };

    public static string Meaning(MqttConnectReturnCode code) => code switch
    {
        MqttConnectReturnCode.ConnectionRefusedBadUsernameOrPassword => Meaning(MqttConnectReasonCode.BadUserNameOrPassword),
        MqttConnectReturnCode.ConnectionRefusedNotAuthorized => Meaning(MqttConnectReasonCode.NotAuthorized),
        MqttConnectReturnCode.ConnectionRefusedIdentifierRejected => Meaning(MqttConnectReasonCode.ClientIdentifierNotValid),
        MqttConnectReturnCode.ConnectionRefusedServerUnavailable => Meaning(MqttConnectReasonCode.ServerUnavailable),
        MqttConnectReturnCode.ConnectionRefusedUnacceptableProtocolVersion => "the broker does not speak MQTT 3.1.1",
        _ => "",
    };
}
