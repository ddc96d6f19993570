namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// MQTT control packet type numbers (the high nibble of the fixed header). Named constants keep
/// proxy filters in tests readable: <c>p =&gt; p.Type == MqttPacketType.PubAck</c>.
/// </summary>
public static class MqttPacketType
{
    public const int Connect = 1;
    public const int ConnAck = 2;
    public const int Publish = 3;
    public const int PubAck = 4;
    public const int PubRec = 5;
    public const int PubRel = 6;
    public const int PubComp = 7;
    public const int Subscribe = 8;
    public const int SubAck = 9;
    public const int Unsubscribe = 10;
    public const int UnsubAck = 11;
    public const int PingReq = 12;
    public const int PingResp = 13;
    public const int Disconnect = 14;
    public const int Auth = 15;

    /// <summary>Spec name of a packet type, for readable assertion messages and logs.</summary>
    public static string Name(int type) => type switch
    {
        Connect => "CONNECT",
        ConnAck => "CONNACK",
        Publish => "PUBLISH",
        PubAck => "PUBACK",
        PubRec => "PUBREC",
        PubRel => "PUBREL",
        PubComp => "PUBCOMP",
        Subscribe => "SUBSCRIBE",
        SubAck => "SUBACK",
        Unsubscribe => "UNSUBSCRIBE",
        UnsubAck => "UNSUBACK",
        PingReq => "PINGREQ",
        PingResp => "PINGRESP",
        Disconnect => "DISCONNECT",
        Auth => "AUTH",
        _ => $"RESERVED({type})",
    };
}
