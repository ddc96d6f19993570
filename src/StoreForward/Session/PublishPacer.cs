using System.Threading.RateLimiting;

namespace StoreForward.Session;

/// <summary>
/// Holds first sends to <see cref="SessionSettings.MaxPublishRate"/> and <see cref="SessionSettings.MaxPublishByteRate"/>
/// with System.Threading.RateLimiting's token buckets, one per limit, each holding one <see cref="RateStep"/>'s worth.
/// </summary>
/// <remarks>
/// The buckets are refilled on demand from the time that passed (no timer while tokens last, so an idle session costs
/// nothing); when a send must wait, a one-shot timer wakes the session's loop once the bucket should have enough. The
/// library's buckets keep real time (they take no <see cref="TimeProvider"/>, dotnet/runtime#106447), so the wake-up does
/// too. A message's bytes are paid after it goes: it waits only for the bytes owed by the messages before it, so a
/// message larger than a step still goes, and the ones after it wait until its bytes are paid. Used by the session's loop
/// alone; only the wake-up runs elsewhere, and it only posts an event.
/// </remarks>
internal sealed class PublishPacer : IDisposable
{
    private readonly TokenBucketRateLimiter? _messages;
    private readonly TokenBucketRateLimiter? _bytes;
    private readonly int _bytesPerStep;
    private readonly ITimer _wakeUp;
    private long _bytesOwed;

    // Logs, the first time in this session, that the limits hold the drain back; then null.
    private Action? _held;

    private PublishPacer(int? messagesPerSecond, int? bytesPerSecond, Action refilled)
    {
        _messages = messagesPerSecond is { } messages ? Bucket(RateStep.Of(messages)) : null;
        if (bytesPerSecond is { } bytes)
        {
            var step = RateStep.Of(bytes);
            _bytes = Bucket(step);
            _bytesPerStep = step.Amount;
        }

        _wakeUp = TimeProvider.System.CreateTimer(_ => refilled(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The pacer for <paramref name="settings"/>, or null when no rate is limited, so that the common case costs nothing.</summary>
    /// <param name="settings">The session's settings, with its rates and logger.</param>
    /// <param name="refilled">Wakes the session's loop; called on a timer thread.</param>
    public static PublishPacer? Create(SessionSettings settings, Action refilled) =>
        settings.MaxPublishRate is null && settings.MaxPublishByteRate is null
            ? null
            : new PublishPacer(settings.MaxPublishRate, settings.MaxPublishByteRate, refilled)
            {
                _held = () => Diagnostics.Log.PublishPaced(settings.Logger, settings.MaxPublishRate, settings.MaxPublishByteRate),
            };

    /// <summary>
    /// Whether the first send of a message of <paramref name="size"/> bytes (topic and payload) may go now. When it may
    /// not, the loop is woken once it may be.
    /// </summary>
    public bool TryTake(long size)
    {
        if (_bytes is not null && !PayOwedBytes())
            return false;
        if (_messages is not null && !TryAcquire(_messages, 1))
            return false;
        if (_bytes is not null)
        {
            _bytesOwed = size;
            PayOwedBytes();
        }

        return true;
    }

    public void Dispose()
    {
        _wakeUp.Dispose();
        _messages?.Dispose();
        _bytes?.Dispose();
    }

    private static TokenBucketRateLimiter Bucket(RateStep step) =>
        new(new TokenBucketRateLimiterOptions
        {
            TokenLimit = step.Amount,
            TokensPerPeriod = step.Amount,
            ReplenishmentPeriod = step.Period,
            AutoReplenishment = false,
            QueueLimit = 0,
        });

    /// <summary>Pays what the last message's bytes still owe, a step's worth at a time; false while some are owed.</summary>
    private bool PayOwedBytes()
    {
        while (_bytesOwed > 0)
        {
            var part = (int)Math.Min(_bytesOwed, _bytesPerStep);
            if (!TryAcquire(_bytes!, part))
                return false;
            _bytesOwed -= part;
        }

        return true;
    }

    private bool TryAcquire(TokenBucketRateLimiter bucket, int tokens)
    {
        bucket.TryReplenish();
        using var lease = bucket.AttemptAcquire(tokens);
        if (lease.IsAcquired)
            return true;

        // The bucket says when it will have enough; without a figure, a step's period is when the next tokens are in.
        var wait = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : bucket.ReplenishmentPeriod;
        _wakeUp.Change(wait, Timeout.InfiniteTimeSpan);
        _held?.Invoke();
        _held = null;
        return false;
    }
}
