using System.Diagnostics;

namespace StoreForward.Tests.Infrastructure;

/// <summary>Waits for a condition that a background engine makes true, with a bound and a message saying what never happened.</summary>
public static class Eventually
{
    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan patience) => TrueAsync(condition, () => what, patience);

    /// <summary>Waits for <paramref name="condition"/>; <paramref name="what"/> describes it when it never came true, read then.</summary>
    public static async Task TrueAsync(Func<bool> condition, Func<string> what, TimeSpan patience)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > patience)
                throw new TimeoutException($"Not within {patience}: {what()}.");
            await Task.Delay(10);
        }
    }

    /// <summary>Waits until <paramref name="publisher"/> has a session with <paramref name="server"/> (as <c>OutboxStatus.Server</c> names it).</summary>
    public static Task ConnectedToAsync(StoreForwardPublisher publisher, string server, TimeSpan patience) =>
        TrueAsync(
            () => publisher.Status.Server == server,
            () => $"connected to {server} (now {publisher.Status.Server ?? "none"}; last error: {publisher.Status.LastConnectionError})",
            patience);
}
