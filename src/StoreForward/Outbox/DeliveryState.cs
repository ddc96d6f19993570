namespace StoreForward.Outbox;

/// <summary>
/// Where a stored message stands in the MQTT exchange. The state is persisted before the packet that depends on it is
/// sent, so that after a crash the engine resumes with exactly the packet the broker expects.
/// </summary>
internal enum DeliveryState
{
    /// <summary>Stored, no packet id yet: the next send is a fresh PUBLISH (DUP=0).</summary>
    Queued = 0,

    /// <summary>
    /// A packet id is assigned and a PUBLISH may have reached the broker. The next send on a new connection is the same
    /// PUBLISH with the same id and DUP=1.
    /// </summary>
    Published = 1,

    /// <summary>
    /// QoS 2 only: PUBREC arrived, so the broker owns the message. The next send is PUBREL with the same id, never the
    /// PUBLISH again: that is what keeps QoS 2 exactly-once across a crash.
    /// </summary>
    Released = 2,
}
