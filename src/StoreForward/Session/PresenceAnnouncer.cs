using Microsoft.Extensions.Logging;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Publishes the retained presence state on one connection: online before anything else, offline right before a graceful
/// DISCONNECT (which makes the broker drop the Will). Its packets carry an id no message in flight holds; the online
/// PUBLISH is acknowledged before any other packet goes, so its PUBACK can never be taken for a message's, and the offline
/// one is the last before DISCONNECT, whose PUBACK finds nothing in flight under its id.
/// </summary>
internal sealed class PresenceAnnouncer(PresenceMessages messages, IBrokerLink link, TimeSpan ackTimeout, TimeProvider time, ILogger logger)
{
    /// <summary>
    /// Publishes online and, at QoS 1, waits for its PUBACK before returning. A refusal (MQTT 5 reason code) is logged and
    /// the session goes on: the data matters more than the state message. No answer within the ack timeout, or another
    /// packet instead, fails the connection.
    /// </summary>
    public async Task AnnounceOnlineAsync(IEnumerable<ushort> idsInFlight, CancellationToken cancellationToken)
    {
        if (Publish(messages.Online, idsInFlight) is not { } packet)
            return;
        await link.SendAsync(packet, cancellationToken).ConfigureAwait(false);
        if (packet.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce)
            return;

        using var timeout = new CancellationTokenSource(ackTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        MqttPacket answer;
        try
        {
            answer = await link.ReceiveAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new LinkLostException($"The broker did not acknowledge the presence message on '{messages.Topic}' within {ackTimeout} (AckTimeout).");
        }

        if (answer is not MqttPubAckPacket ack || ack.PacketIdentifier != packet.PacketIdentifier)
            throw new MqttProtocolException($"The broker answered the presence message on '{messages.Topic}' with {answer.GetType().Name} instead of its PUBACK.");
        if ((int)ack.ReasonCode >= 0x80)
            Diagnostics.Log.PresenceRefused(logger, link.Endpoint, messages.Topic, $"{ack.ReasonCode} (0x{(int)ack.ReasonCode:X2})");
    }

    /// <summary>Publishes offline; the DISCONNECT that follows on the same connection is read after it.</summary>
    public Task AnnounceOfflineAsync(IEnumerable<ushort> idsInFlight, CancellationToken cancellationToken) =>
        Publish(messages.Offline, idsInFlight) is { } packet ? link.SendAsync(packet, cancellationToken) : Task.CompletedTask;

    private MqttPublishPacket? Publish(byte[] payload, IEnumerable<ushort> idsInFlight)
    {
        var id = messages.Qos == MqttQualityOfServiceLevel.AtMostOnce ? (ushort)0 : PacketIds.FirstFree(idsInFlight);
        if (id is null)
        {
            // Every id is in flight (a window of 65,535): the state message waits for the next connection.
            Diagnostics.Log.PresenceRefused(logger, link.Endpoint, messages.Topic, "no packet id free: all 65,535 are in flight");
            return null;
        }

        return new MqttPublishPacket
        {
            Topic = messages.Topic,
            PayloadSegment = payload,
            QualityOfServiceLevel = messages.Qos,
            Retain = true,
            PacketIdentifier = id.Value,
        };
    }
}
