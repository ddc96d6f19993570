using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Turns what the broker sends on one connection into store changes and answers: PUBACK and PUBCOMP complete messages,
/// PUBREC releases them (recorded before the PUBREL goes out), a refusal makes a dead letter, Quota exceeded ends the
/// connection to come back with a smaller window, and publishes of an earlier life of the session are acknowledged.
/// </summary>
internal sealed class BrokerAnswers(
    SessionState state, InFlightWindow window, PublishPacketFactory publishes, QosDowngrades downgrades, DeliveryCounters counters, TimeProvider time, bool v5)
{
    private bool _answered;

    /// <summary>
    /// Set when the broker refused a message with Quota exceeded: the session ends with it, and takes no more events.
    /// </summary>
    public Exception? QuotaExceeded { get; private set; }

    /// <summary>Whether the broker answered a publish since the last call, which restarts the ack clock.</summary>
    public bool TakeAnswered()
    {
        var answered = _answered;
        _answered = false;
        return answered;
    }

    /// <summary>Handles one packet from the broker; returns the error that ends the session, or null.</summary>
    public Exception? Take(SessionTurn turn, MqttPacket packet)
    {
        switch (packet)
        {
            case MqttPubAckPacket ack:
                Acknowledged(turn, ack.PacketIdentifier, complete: false, (int)ack.ReasonCode, ack.ReasonString);
                return null;
            case MqttPubRecPacket received:
                Received(turn, received);
                return null;
            case MqttPubCompPacket complete:
                Acknowledged(turn, complete.PacketIdentifier, complete: true, 0, null);
                return null;
            case MqttPublishPacket inbound:
                AnswerInbound(turn, inbound);
                return null;
            case MqttPubRelPacket release:
                turn.Answers.Add(new MqttPubCompPacket { PacketIdentifier = release.PacketIdentifier });
                return null;
            case MqttPingRespPacket:
                return null;
            case MqttDisconnectPacket disconnect:
                return new LinkLostException($"The broker closed the session: {disconnect.ReasonCode} (0x{(int)disconnect.ReasonCode:X2}){(string.IsNullOrEmpty(disconnect.ReasonString) ? "" : ": " + disconnect.ReasonString)}.");
            default:
                return new MqttProtocolException($"Unexpected {packet.GetType().Name} from the broker.");
        }
    }

    /// <summary>
    /// The broker refused a message with Quota exceeded (0x97): it holds more unfinished messages from this client than it
    /// allows, although this side kept within Receive Maximum. Mosquitto does so after a crash, when it restores from its
    /// last save messages this side has long completed, and then closes the link. The refusal is transient: the message
    /// stays in flight, to be sent again on the next connection, which keeps fewer in flight than were outstanding now.
    /// </summary>
    private bool IsQuotaExceeded(int reasonCode, string packet)
    {
        if (!v5 || reasonCode != (int)MqttPubAckReasonCode.QuotaExceeded)
            return false;
        var outstanding = window.Outstanding;
        state.BrokerQuota = Math.Max(1, outstanding - 1);
        QuotaExceeded = new LinkLostException(
            $"The broker answered {packet} with Quota exceeded (0x97) with {outstanding} messages outstanding, within its Receive Maximum; " +
            $"reconnecting with at most {state.BrokerQuota} in flight.");
        return true;
    }

    /// <summary>
    /// PUBACK (<paramref name="complete"/> false) or PUBCOMP: the broker owns the message, so it leaves the outbox. A PUBACK
    /// also completes a QoS 2 message still awaiting its PUBREC: a broker that supports QoS 1 at most (RabbitMQ) answers
    /// QoS 2 that way, and so does any broker for a message this side downgraded. Waiting for a PUBREC that never comes
    /// would stall the drain.
    /// </summary>
    private void Acknowledged(SessionTurn turn, ushort packetId, bool complete, int reasonCode, string? reasonString)
    {
        if (!state.TryGetInFlight(packetId, out var flight) || IsQuotaExceeded(reasonCode, complete ? "PUBCOMP" : "PUBACK"))
            return;

        // A PUBCOMP completes only a released message; one for a message the broker may still hold awaiting PUBREL (a late
        // answer to a PUBREL for an id we had finished) must not drop it. A released message waits for its PUBCOMP.
        if (complete != (flight.State == DeliveryState.Released))
            return;
        _answered = true;
        state.EndFlight(flight);
        var message = flight.Message;
        if (v5 && reasonCode >= 0x80)
        {
            turn.DeadLetter(message, Rejected(message, "PUBACK", reasonCode, reasonString));
            return;
        }

        if (!complete && message.Qos == MqttQualityOfServiceLevel.ExactlyOnce)
        {
            downgrades.Report(publishes.SendQos(message) == MqttQualityOfServiceLevel.ExactlyOnce
                ? "answered a QoS 2 PUBLISH with PUBACK: it supports QoS 1 at most, so QoS 2 messages are delivered at least once there, not exactly once"
                : null);
        }

        turn.Acknowledged(message);
        counters.Metrics?.Acknowledged(message.StoredAt, time.GetUtcNow());
    }

    /// <summary>PUBREC: persist "released" before PUBREL goes out, so a restart sends PUBREL and never the PUBLISH again.</summary>
    private void Received(SessionTurn turn, MqttPubRecPacket pubRec)
    {
        if (!state.TryGetInFlight(pubRec.PacketIdentifier, out var flight) || flight.Message.Qos != MqttQualityOfServiceLevel.ExactlyOnce)
        {
            // The broker may still hold the id from a flight this side has finished; releasing it lets the broker finish too.
            turn.Answers.Add(new MqttPubRelPacket { PacketIdentifier = pubRec.PacketIdentifier, ReasonCode = MqttPubRelReasonCode.PacketIdentifierNotFound });
            return;
        }

        if (IsQuotaExceeded((int)pubRec.ReasonCode, "PUBREC"))
            return;

        _answered = true;
        if (v5 && (int)pubRec.ReasonCode >= 0x80)
        {
            state.EndFlight(flight);
            turn.DeadLetter(flight.Message, Rejected(flight.Message, "PUBREC", (int)pubRec.ReasonCode, pubRec.ReasonString));
            return;
        }

        if (flight.State == DeliveryState.Published)
        {
            flight.State = DeliveryState.Released;
            turn.Released(flight.Message);
        }

        turn.Answers.Add(new MqttPubRelPacket { PacketIdentifier = flight.PacketId });
    }

    private static DeadLetter Rejected(OutboxMessage message, string packet, int reasonCode, string? reasonString) =>
        message.ToDeadLetter(DeadLetterReason.RejectedByBroker, reasonCode,
            $"The broker answered {packet} with reason code 0x{reasonCode:X2}{(string.IsNullOrEmpty(reasonString) ? "" : ": " + reasonString)}.");

    /// <summary>We subscribe to nothing, but a session from an earlier life may still deliver; acknowledge so it drains.</summary>
    private static void AnswerInbound(SessionTurn turn, MqttPublishPacket inbound)
    {
        if (inbound.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtLeastOnce)
            turn.Answers.Add(new MqttPubAckPacket { PacketIdentifier = inbound.PacketIdentifier });
        else if (inbound.QualityOfServiceLevel == MqttQualityOfServiceLevel.ExactlyOnce)
            turn.Answers.Add(new MqttPubRecPacket { PacketIdentifier = inbound.PacketIdentifier });
    }
}
