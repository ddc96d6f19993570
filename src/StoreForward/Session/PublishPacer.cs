using System.Threading.RateLimiting;

namespace StoreForward.Session;

/// <summary>
/// Holds first sends to <see cref="SessionSettings.MaxPublishRate"/> and <see cref="SessionSettings.MaxPublishByteRate"/>
/// with System.Threading.RateLimiting's token buckets, one per limit.
/// </summary>
/// <remarks>
/// Each bucket fills continuously at its rate and holds <see cref="Burst"/>: a fiftieth of a second's worth, at least two,
/// so that a wake-up a little late loses no rate, while no second carries more than the rate and that burst. The buckets
/// are refilled on demand (no timer while tokens last, so an idle session costs nothing); when a send must wait, a one-shot
/// timer wakes the session's loop once enough should be in. The library's buckets keep real time (they take no
/// <see cref="TimeProvider"/>, dotnet/runtime#106447), so the wake-up does too. A message's bytes are paid after it goes: it
/// waits only for the bytes the messages before it still owe, so a message larger than the burst still goes, and the
/// ones after it wait until its bytes are paid. Used by the session's loop alone; the wake-up only posts an event.
/// </remarks>
internal sealed class PublishPacer : IDisposable
{
    private readonly Limit? _messages;
    private readonly Limit? _bytes;
    private readonly ITimer _wakeUp;
    private long _bytesOwed;

    // Logs, the first time in this session, that the limits hold the drain back; then null.
    private Action? _held;

    private PublishPacer(int? messagesPerSecond, int? bytesPerSecond, Action refilled)
    {
        _messages = messagesPerSecond is { } messages ? new Limit(messages) : null;
        _bytes = bytesPerSecond is { } bytes ? new Limit(bytes) : null;
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

    /// <summary>The most a bucket of <paramref name="perSecond"/> holds: a fiftieth of a second's worth, at least two.</summary>
    public static int Burst(int perSecond) => Math.Max(2, perSecond / 50);

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
        _messages?.Bucket.Dispose();
        _bytes?.Bucket.Dispose();
    }

    /// <summary>Pays what the last message's bytes still owe, a burst at a time; false while some are owed.</summary>
    private bool PayOwedBytes()
    {
        var limit = _bytes!;
        while (_bytesOwed > 0)
        {
            var part = (int)Math.Min(_bytesOwed, Burst(limit.PerSecond));
            if (!TryAcquire(limit, part))
                return false;
            _bytesOwed -= part;
        }

        return true;
    }

    private bool TryAcquire(Limit limit, int tokens)
    {
        limit.Bucket.TryReplenish();
        using var lease = limit.Bucket.AttemptAcquire(tokens);
        if (lease.IsAcquired)
            return true;

        // Woken when the tokens asked for have come in, had the bucket been empty; more come while the loop wakes.
        _wakeUp.Change(TimeSpan.FromSeconds((double)tokens / limit.PerSecond), Timeout.InfiniteTimeSpan);
        _held?.Invoke();
        _held = null;
        return false;
    }

    /// <summary>One rate and its bucket, which fills continuously at the rate.</summary>
    private sealed class Limit(int perSecond)
    {
        public int PerSecond { get; } = perSecond;

        public TokenBucketRateLimiter Bucket { get; } = new(new TokenBucketRateLimiterOptions
        {
            TokenLimit = Burst(perSecond),
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            AutoReplenishment = false,
            QueueLimit = 0,
        });
    }
}
