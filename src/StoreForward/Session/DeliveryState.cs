using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>Where a message in flight stands in the MQTT exchange: which packet its next send is.</summary>
internal enum DeliveryState
{
    /// <summary>
    /// A PUBLISH may have reached the broker: a resend on a new connection is the same PUBLISH with the same id and DUP=1.
    /// </summary>
    Published = 1,

    /// <summary>
    /// QoS 2 only: PUBREC arrived (and is <see cref="StoredMark.PubrecRecorded"/>), so the broker owns the message. The next
    /// send is PUBREL with the same id, never the PUBLISH again: that keeps QoS 2 exactly-once across a crash.
    /// </summary>
    Released = 2,
}
