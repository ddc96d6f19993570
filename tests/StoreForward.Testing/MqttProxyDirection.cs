namespace StoreForward.Tests.Infrastructure;

/// <summary>Which way a packet travelled through <see cref="MqttTcpProxy"/>.</summary>
public enum MqttProxyDirection
{
    /// <summary>Sent by the MQTT client (the code under test) towards the broker.</summary>
    ClientToBroker,

    /// <summary>Sent by the broker towards the MQTT client.</summary>
    BrokerToClient,
}
