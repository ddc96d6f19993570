namespace StoreForward.Reconnect;

/// <summary>When to try a connection again, read once from the publisher's options.</summary>
/// <param name="InitialDelay">The first backoff; each failed round doubles it.</param>
/// <param name="MaxDelay">The longest backoff.</param>
/// <param name="Jitter">Whether each delay is spread randomly, so that many publishers do not reconnect in step.</param>
/// <param name="Time">The clock the delays run on.</param>
internal sealed record ReconnectSettings(TimeSpan InitialDelay, TimeSpan MaxDelay, bool Jitter, TimeProvider Time);
