namespace StoreForward.Session;

/// <summary>When a connection made with expiring credentials is renewed.</summary>
internal static class CredentialRenewal
{
    /// <summary>Less time than this left at connecting is not worth a renewal: the broker drops the link, and the engine reconnects.</summary>
    public static readonly TimeSpan Least = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long after <paramref name="now"/> to renew credentials that expire at <paramref name="expiresAt"/>: when nine
    /// tenths of the time left have passed, which leaves the session a tenth to finish what is in flight. Null: never
    /// (no expiry, or less than <see cref="Least"/> left).
    /// </summary>
    public static TimeSpan? Due(DateTimeOffset now, DateTimeOffset? expiresAt) =>
        expiresAt - now is { } left && left >= Least ? left * 0.9 : null;
}
