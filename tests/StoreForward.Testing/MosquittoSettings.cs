namespace StoreForward.Tests.Infrastructure;

/// <summary>
/// Optional knobs for <see cref="MosquittoBroker"/>. Every property maps to one line of the
/// generated mosquitto.conf; null means "leave the Mosquitto default", so a test only states
/// the limits it actually exercises.
/// </summary>
public sealed record MosquittoSettings
{
    /// <summary>
    /// Seconds between periodic saves of the in-memory database. Kept small (1 s) by default so a
    /// test that kills the broker with SIGKILL loses at most about a second of broker state,
    /// which makes "broker crashed" scenarios deterministic enough to write.
    /// </summary>
    public int AutosaveInterval { get; init; } = 1;

    /// <summary>
    /// Value of <c>max_inflight_messages</c> when <see cref="ReceiveMaximum"/> is null: Mosquitto's own default of 20.
    /// Not 0 (unlimited): libmosquitto clients such as <c>mosquitto_sub</c> accept at most 20 unacknowledged QoS 2
    /// messages and drop the connection with a protocol error when the broker sends more.
    /// </summary>
    public int MaxInflightMessages { get; init; } = 20;

    /// <summary>
    /// Receive Maximum the broker announces to MQTT 5 clients in CONNACK. Mosquitto 2.0.11 has
    /// no separate option for it: it sends <c>max_inflight_messages</c> as the CONNACK Receive
    /// Maximum property (verified by experiment, see InfrastructureTests), so setting this
    /// writes <c>max_inflight_messages N</c> and overrides <see cref="MaxInflightMessages"/>.
    /// </summary>
    public int? ReceiveMaximum { get; init; }

    /// <summary>
    /// Logs every packet (<c>log_type all</c>), which tests assert on. Benchmarks turn it off: a line per packet slows the
    /// broker, and the launcher keeps every line in memory.
    /// </summary>
    public bool LogEveryPacket { get; init; } = true;

    /// <summary>Writes <c>max_packet_size N</c>: lets tests provoke "packet too large" rejects.</summary>
    public int? MaxPacketSize { get; init; }

    /// <summary>Writes <c>retain_available true|false</c>: lets tests see a broker that refuses retained publishes.</summary>
    public bool? RetainAvailable { get; init; }

    /// <summary>Writes <c>max_qos N</c> (0..2) on the listener: lets tests see QoS downgrade / Maximum QoS in CONNACK.</summary>
    public int? MaxQos { get; init; }

    /// <summary>
    /// Raw lines appended verbatim at the end of the config, for anything the typed knobs do not
    /// cover. Note that Mosquitto listener options (e.g. <c>max_qos</c>) apply to the most recent
    /// <c>listener</c> line, which is the single listener the broker defines.
    /// </summary>
    public IReadOnlyList<string> ExtraConfig { get; init; } = [];
}
