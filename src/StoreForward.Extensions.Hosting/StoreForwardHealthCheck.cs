using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace StoreForward.Extensions.Hosting;

/// <summary>
/// The publisher's health: Unhealthy while the store fails to commit (publishes fail), Degraded while no session is up or
/// the oldest pending message is older than <see cref="StoreForwardHostingOptions.HealthMaxOldestPendingAge"/> (messages
/// are kept but do not leave), Healthy otherwise. Register it with <c>services.AddHealthChecks().AddStoreForward()</c>, or
/// <c>.AddStoreForward("plant")</c> for a named publisher; <c>AddCheck&lt;StoreForwardHealthCheck&gt;("storeforward")</c>
/// watches the unnamed publisher.
/// </summary>
public sealed class StoreForwardHealthCheck(StoreForwardPublisher publisher, IOptions<StoreForwardHostingOptions> options) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var status = publisher.Status;
        var data = new Dictionary<string, object>
        {
            ["pendingMessages"] = status.PendingMessages,
            ["pendingBytes"] = status.PendingBytes,
            ["oldestPendingAgeSeconds"] = status.OldestPendingAge?.TotalSeconds ?? 0,
            ["connected"] = status.IsConnected,
            ["deadLetters"] = status.DeadLetters,
        };
        if (status.StoreError is { } storeError)
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, $"The outbox store fails to commit: {storeError}", data: data));

        var problems = new List<string>();
        if (!status.IsConnected)
            problems.Add($"not connected to the broker ({status.LastConnectionError ?? "connecting"})");
        var maxAge = options.Value.HealthMaxOldestPendingAge;
        if (status.OldestPendingAge > maxAge)
            problems.Add($"the oldest pending message is {status.OldestPendingAge.Value.TotalSeconds:F0} s old, more than {maxAge.TotalSeconds:F0} s");
        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy($"{status.PendingMessages} messages pending", data)
            : HealthCheckResult.Degraded(string.Join("; ", problems), data: data));
    }
}
