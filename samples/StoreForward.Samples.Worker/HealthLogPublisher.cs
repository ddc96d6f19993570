using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace StoreForward.Samples.Worker;

/// <summary>
/// Logs a health check's status when it changes (and once at the first report): a worker has no health endpoint, so its
/// log is where an operator sees the publisher degrade and recover. The host runs the checks for it every 30 s.
/// </summary>
internal sealed partial class HealthLogPublisher(ILogger<HealthLogPublisher> logger) : IHealthCheckPublisher
{
    // Reports can come from the host's timer while the previous one is still being logged.
    private readonly ConcurrentDictionary<string, HealthStatus> _last = new(StringComparer.Ordinal);

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        foreach (var (name, entry) in report.Entries)
        {
            if (_last.TryGetValue(name, out var previous) && previous == entry.Status)
                continue;
            _last[name] = entry.Status;
            StatusChanged(logger, entry.Status == HealthStatus.Healthy ? LogLevel.Information : LogLevel.Warning, name, entry.Status, entry.Description);
        }

        return Task.CompletedTask;
    }

    [LoggerMessage(Message = "Health check {Name} is {Status}: {Description}")]
    private static partial void StatusChanged(ILogger logger, LogLevel level, string name, HealthStatus status, string? description);
}
