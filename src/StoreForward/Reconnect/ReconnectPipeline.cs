using Polly;
using Polly.Retry;

namespace StoreForward.Reconnect;

/// <summary>
/// Builds the Polly pipeline that retries a connection forever: exponential backoff from
/// <see cref="ReconnectSettings.InitialDelay"/> up to <see cref="ReconnectSettings.MaxDelay"/>, with jitter, until the
/// engine stops. Time and randomness are injected so that tests can replay the exact delays.
/// </summary>
internal static class ReconnectPipeline
{
    public static ResiliencePipeline Create(ReconnectSettings settings, Func<double>? randomizer = null, Action<TimeSpan, Exception?>? onRetry = null)
    {
        var retry = new RetryStrategyOptions
        {
            // Anything but our own stop is worth another try: refused connections, timeouts, dead links, store faults.
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is not null && !args.Context.CancellationToken.IsCancellationRequested),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = settings.Jitter,
            Delay = settings.InitialDelay,
            MaxDelay = settings.MaxDelay,
            OnRetry = args =>
            {
                onRetry?.Invoke(args.RetryDelay, args.Outcome.Exception);
                return default;
            },
        };
        if (randomizer is not null)
            retry.Randomizer = randomizer;

        return new ResiliencePipelineBuilder { TimeProvider = settings.Time }
            .AddRetry(retry)
            .Build();
    }
}
