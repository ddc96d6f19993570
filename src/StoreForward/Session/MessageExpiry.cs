namespace StoreForward.Session;

/// <summary>The MQTT 5 Message Expiry Interval a stored message carries: what is left of its lifetime.</summary>
internal static class MessageExpiry
{
    /// <summary>Whether a message that expires at <paramref name="expiresAt"/> must no longer be sent at <paramref name="now"/>.</summary>
    public static bool HasExpired(DateTimeOffset? expiresAt, DateTimeOffset now) => expiresAt <= now;

    /// <summary>
    /// The remaining lifetime in whole seconds, rounded up, and at least 1: MQTT has no interval for "already expired", and
    /// a resend of a message already in flight must still go out (the broker may hold its QoS 2 state), to be dropped by
    /// the broker a second later.
    /// </summary>
    public static uint RemainingSeconds(DateTimeOffset expiresAt, DateTimeOffset now) =>
        (uint)Math.Clamp(Math.Ceiling((expiresAt - now).TotalSeconds), 1, uint.MaxValue);
}
