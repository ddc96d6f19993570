using Microsoft.Extensions.Logging.Abstractions;
using StoreForward.Session;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Session;

/// <summary>
/// The publish rate limits: the bucket's burst, and the pacer's decisions. The buckets of
/// System.Threading.RateLimiting keep real time, so these tests use rates slow enough that a refill cannot come between
/// two calls, and wait for the pacer's own wake-up instead of a clock.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PublishPacerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(1, 2)]
    [InlineData(100, 2)]
    [InlineData(150, 3)]
    [InlineData(524_288, 10_485)]
    public void A_bucket_holds_a_fiftieth_of_a_seconds_worth_and_at_least_two(int perSecond, int burst)
    {
        Assert.Equal(burst, PublishPacer.Burst(perSecond));
    }

    [Fact]
    public void Without_limits_there_is_no_pacer()
    {
        Assert.Null(PublishPacer.Create(Settings(null, null), () => { }));
    }

    [Fact]
    public async Task At_one_message_a_second_the_second_waits_and_the_pacer_wakes_the_session_when_it_may_go()
    {
        var woken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var pacer = PublishPacer.Create(Settings(1, null), woken.SetResult)!;

        // The bucket starts with its burst of two.
        Assert.True(pacer.TryTake(10));
        Assert.True(pacer.TryTake(10));
        Assert.False(pacer.TryTake(10));

        await woken.Task.WaitAsync(Patience);
        await Eventually.TrueAsync(() => pacer.TryTake(10), "the next message may go after the wake-up", Patience);
    }

    [Fact]
    public void A_message_larger_than_a_step_of_the_byte_rate_goes_and_the_next_waits_for_its_bytes()
    {
        using var pacer = PublishPacer.Create(Settings(null, 100), () => { })!;

        // Two bytes in the bucket: the message goes, and its other 298 bytes hold the next back for about three seconds.
        Assert.True(pacer.TryTake(300));
        Assert.False(pacer.TryTake(1));
    }

    private static SessionSettings Settings(int? messages, int? bytes) =>
        new(10, false, null, null, messages, bytes, null, new StoreForward.Transport.FixedCredentials(new MqttCredentials(null, null)), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(60), TimeProvider.System, NullLogger.Instance);
}
