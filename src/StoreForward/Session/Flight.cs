using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// A stored message in flight, as the session sees it: what the broker last took of it, and on how many connections it
/// was resent. It starts from the store's marks (a message read back from the sent region) or from its first PUBLISH;
/// the session changes it as the broker answers, and records each change in the store before the packet that depends on
/// it goes out (see <see cref="SessionTurn"/>). The stored message itself stays as it was read.
/// </summary>
internal sealed class Flight
{
    private Flight(OutboxMessage message, DeliveryState state, int attempts)
    {
        Message = message;
        State = state;
        Attempts = attempts;
    }

    public OutboxMessage Message { get; }

    public long Sequence => Message.Sequence;

    public ushort PacketId => PacketIds.Of(Message.Sequence);

    /// <summary><see cref="DeliveryState.Published"/> or, for QoS 2 once its PUBREC arrived, <see cref="DeliveryState.Released"/>.</summary>
    public DeliveryState State { get; set; }

    /// <summary>On how many connections after the first it was resent (see <see cref="StoreForwardOptions.MaxDeliveryAttempts"/>).</summary>
    public int Attempts { get; set; }

    /// <summary>A message read back from the store's sent region: where its stored marks left it.</summary>
    public static Flight Resumed(OutboxMessage message) =>
        new(message, message.Mark == StoredMark.PubrecRecorded ? DeliveryState.Released : DeliveryState.Published, message.Attempts);

    /// <summary>A message whose first PUBLISH goes out now.</summary>
    public static Flight First(OutboxMessage message) => new(message, DeliveryState.Published, 0);

    public override string ToString() => $"{Message} {State}, resent {Attempts}×";
}
