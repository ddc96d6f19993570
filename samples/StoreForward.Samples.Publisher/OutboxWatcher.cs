namespace StoreForward.Samples.Publisher;

/// <summary>
/// Polls <see cref="StoreForwardPublisher.Status"/> and prints when the connection comes and goes, and how a backlog
/// drains once the broker is back. A real app would feed the same numbers to its health checks or metrics.
/// </summary>
internal static class OutboxWatcher
{
    public static async Task RunAsync(StoreForwardPublisher publisher, CancellationToken cancellationToken)
    {
        var last = publisher.Status;
        var stopping = false;
        while (!stopping)
        {
            try
            {
                await Task.Delay(50, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                stopping = true; // one last look, so that a drain that just finished is reported too
            }

            var now = publisher.Status;
            if (now.IsConnected != last.IsConnected)
            {
                Console.WriteLine(now.IsConnected
                    ? $"[outbox] connected to the broker (pending {now.PendingMessages})"
                    : $"[outbox] connection lost: {now.LastConnectionError ?? "no reason given"} (pending {now.PendingMessages})");
            }
            else if (now.IsConnected && now.PendingMessages < last.PendingMessages && last.PendingMessages > 1)
            {
                // A backlog, not just the reading published a moment ago, is being delivered.
                Console.WriteLine($"[outbox] backlog draining: pending {last.PendingMessages} -> {now.PendingMessages}");
            }

            if (now.LastConnectionError != last.LastConnectionError && now.LastConnectionError is { } error && !now.IsConnected && !last.IsConnected)
                Console.WriteLine($"[outbox] cannot reach the broker: {error}");

            last = now;
        }
    }
}
