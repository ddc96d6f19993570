namespace StoreForward.Reconnect;

/// <summary>
/// How the failback probe backs off after a return to an earlier server that did not hold: the earlier server accepted
/// TCP (the probe) but not the MQTT connection, and the round ended on the later server again.
/// </summary>
internal static class FailbackRetreat
{
    /// <summary>The longest interval a retreat reaches (a longer configured interval stays as it is).</summary>
    public static readonly TimeSpan Ceiling = TimeSpan.FromHours(1);

    /// <summary>Twice <paramref name="interval"/>, but no more than an hour, and never less than it was.</summary>
    public static TimeSpan Next(TimeSpan interval) =>
        interval >= Ceiling ? interval : TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, Ceiling.Ticks));
}
