namespace StoreForward.Extensions.Hosting;

/// <summary>
/// How the host runs the publisher; bound from the same configuration section as <see cref="StoreForwardOptions"/>, and
/// named like the publisher when it has a name.
/// </summary>
public sealed class StoreForwardHostingOptions
{
    /// <summary>
    /// How long shutdown waits for the broker to acknowledge what is stored before the publisher closes (default 10 s).
    /// Whatever is left stays in the outbox and is delivered after the next start.
    /// </summary>
    public TimeSpan ShutdownFlushTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <see cref="StoreForwardHealthCheck"/> reports Degraded once the oldest pending message is older than this (default
    /// 5 minutes): messages are stored but do not leave.
    /// </summary>
    public TimeSpan HealthMaxOldestPendingAge { get; set; } = TimeSpan.FromMinutes(5);
}
