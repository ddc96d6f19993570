using MQTTnet.Packets;

namespace StoreForward.Session;

/// <summary>What can wake a session's loop.</summary>
internal enum SessionEventKind
{
    /// <summary>A packet from the broker (<see cref="SessionEvent.Packet"/>).</summary>
    FromBroker = 0,

    /// <summary>The link failed (<see cref="SessionEvent.Error"/>), seen by the receive loop or the sender.</summary>
    LinkFailed = 1,

    /// <summary>A commit of <see cref="SessionEvent.Count"/> acknowledged messages' removals landed, or failed.</summary>
    AcknowledgementsDurable = 2,

    /// <summary>A commit added messages to the outbox.</summary>
    OutboxGrew = 3,

    /// <summary>The session is to end cleanly once nothing is in flight.</summary>
    WindDownRequested = 4,

    /// <summary>The publish rate limits allow the next first send (see <see cref="PublishPacer"/>).</summary>
    PublishRateRefilled = 5,

    /// <summary>An AUTH packet of a re-authentication is ready to go (<see cref="SessionEvent.Packet"/>, see <see cref="Reauthentication"/>).</summary>
    AuthReady = 6,
}

/// <summary>
/// One event for a session's loop, posted by the receive loop, the sender, commit continuations and the engine, and read
/// by the loop alone. A value, so that the packet-per-event hot path allocates nothing of its own.
/// </summary>
internal readonly record struct SessionEvent
{
    private SessionEvent(SessionEventKind kind, MqttPacket? packet = null, Exception? error = null, int count = 0)
    {
        Kind = kind;
        Packet = packet;
        Error = error;
        Count = count;
    }

    public static SessionEvent OutboxGrew { get; } = new(SessionEventKind.OutboxGrew);

    public static SessionEvent WindDownRequested { get; } = new(SessionEventKind.WindDownRequested);

    public static SessionEvent PublishRateRefilled { get; } = new(SessionEventKind.PublishRateRefilled);

    public SessionEventKind Kind { get; }

    /// <summary>The broker's packet, for <see cref="SessionEventKind.FromBroker"/>.</summary>
    public MqttPacket? Packet { get; }

    /// <summary>Why the link failed, for <see cref="SessionEventKind.LinkFailed"/>.</summary>
    public Exception? Error { get; }

    /// <summary>How many acknowledgements became durable, for <see cref="SessionEventKind.AcknowledgementsDurable"/>.</summary>
    public int Count { get; }

    public static SessionEvent FromBroker(MqttPacket packet) => new(SessionEventKind.FromBroker, packet);

    public static SessionEvent AuthReady(MqttAuthPacket packet) => new(SessionEventKind.AuthReady, packet);

    public static SessionEvent LinkFailed(Exception error) => new(SessionEventKind.LinkFailed, error: error);

    public static SessionEvent AcknowledgementsDurable(int count) => new(SessionEventKind.AcknowledgementsDurable, count: count);
}
