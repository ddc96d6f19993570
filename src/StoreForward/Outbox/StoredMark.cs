namespace StoreForward.Outbox;

/// <summary>
/// What the store's marks said about a message when it was read: the facts a resume depends on. The session records each
/// before the packet that depends on it goes out, so after a crash it resumes with exactly the packet the broker expects
/// (see <c>Session.DeliveryState</c> for what the session makes of them).
/// </summary>
internal enum StoredMark
{
    /// <summary>Above the sent mark: never sent in the current broker session.</summary>
    Unsent = 0,

    /// <summary>At or below the sent mark: a PUBLISH with the message's packet id may have reached the broker.</summary>
    Sent = 1,

    /// <summary>QoS 2 only: the broker's PUBREC was recorded, so the broker owns the message.</summary>
    PubrecRecorded = 2,
}
