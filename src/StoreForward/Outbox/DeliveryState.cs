namespace StoreForward.Outbox;

/// <summary>
/// Where a stored message stands in the MQTT exchange. What a resend depends on is durable before the packet goes out:
/// the packet id (derived from the stored sequence) and, for QoS 2, the PUBREC. After a crash the engine therefore resumes
/// with exactly the packet the broker expects.
/// </summary>
internal enum DeliveryState
{
    /// <summary>Never sent in the current session: the next send is a fresh PUBLISH (DUP=0).</summary>
    Queued = 0,

    /// <summary>
    /// A PUBLISH may have reached the broker. The next send on a new connection is the same PUBLISH with the same id and
    /// DUP=1.
    /// </summary>
    Published = 1,

    /// <summary>
    /// QoS 2 only: PUBREC arrived, so the broker owns the message. The next send is PUBREL with the same id, never the
    /// PUBLISH again: that is what keeps QoS 2 exactly-once across a crash.
    /// </summary>
    Released = 2,
}
