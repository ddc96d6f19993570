using MQTTnet.Formatter;
using MQTTnet.Packets;

namespace StoreForward.Transport;

/// <summary>
/// What a delivery session needs of a connection: packets in and out, the broker's limits, and how long the link has been
/// quiet each way. <see cref="MqttConnection"/> is the real one; tests put a scripted broker behind it, so that the
/// session's decisions can be checked packet by packet.
/// </summary>
internal interface IBrokerLink
{
    MqttProtocolVersion ProtocolVersion { get; }

    /// <summary>The server this link is with.</summary>
    BrokerEndpoint Endpoint { get; }

    /// <summary>What the broker's CONNACK allows.</summary>
    BrokerLimits Limits { get; }

    /// <summary>The credentials the link was made with: when they expire, and the enhanced authentication method, if any.</summary>
    MqttCredentials Credentials { get; }

    /// <summary>Time since the last packet went out.</summary>
    TimeSpan SinceLastSent { get; }

    /// <summary>Time since the last packet came in.</summary>
    TimeSpan SinceLastReceived { get; }

    Task SendAsync(MqttPacket packet, CancellationToken cancellationToken);

    /// <summary>Sends <paramref name="packets"/> in order, joined into as few socket writes as the link allows.</summary>
    Task SendAsync(IReadOnlyList<MqttPacket> packets, CancellationToken cancellationToken);

    Task<MqttPacket> ReceiveAsync(CancellationToken cancellationToken);

    /// <summary>Sends DISCONNECT (best effort: the link may already be gone; the broker keeps the session either way).</summary>
    Task SendDisconnectAsync(TimeSpan timeout);
}
