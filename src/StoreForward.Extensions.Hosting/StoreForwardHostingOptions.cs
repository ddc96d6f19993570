namespace StoreForward.Extensions.Hosting;

/// <summary>How the host runs the publisher; bound from the same configuration section as <see cref="StoreForwardOptions"/>.</summary>
public sealed class StoreForwardHostingOptions
{
    /// <summary>
    /// How long shutdown waits for the broker to acknowledge what is stored before the publisher closes (default 10 s).
    /// Whatever is left stays in the outbox and is delivered after the next start.
    /// </summary>
    public TimeSpan ShutdownFlushTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
