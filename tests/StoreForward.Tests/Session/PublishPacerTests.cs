using Microsoft.Extensions.Logging.Abstractions;
using StoreForward.Session;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Session;

/// <summary>
/// The publish rate limits: how a rate is cut into steps, and the pacer's decisions. The buckets of
/// System.Threading.RateLimiting keep real time, so these tests use rates slow enough that a refill cannot come between
/// two calls, and wait for the pacer's own wake-up instead of a clock.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PublishPacerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(1, 1000, 1)]
    [InlineData(7, 1000, 7)]
    [InlineData(100, 10, 1)]
    [InlineData(150, 20, 3)]
    [InlineData(10_000, 10, 100)]
    [InlineData(524_288, 250, 131_072)]
    public void A_rate_is_handed_out_in_the_finest_even_steps_up_to_a_hundredth_of_a_second(int perSecond, int periodMs, int amount)
    {
        var step = RateStep.Of(perSecond);

        Assert.Equal((TimeSpan.FromMilliseconds(periodMs), amount), (step.Period, step.Amount));
        Assert.Equal(perSecond, step.Amount * (TimeSpan.TicksPerSecond / step.Period.Ticks));
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

        Assert.True(pacer.TryTake(10));
        Assert.False(pacer.TryTake(10));

        await woken.Task.WaitAsync(Patience);
        await Eventually.TrueAsync(() => pacer.TryTake(10), "the next message may go after the wake-up", Patience);
    }

    [Fact]
    public void A_message_larger_than_a_step_of_the_byte_rate_goes_and_the_next_waits_for_its_bytes()
    {
        using var pacer = PublishPacer.Create(Settings(null, 1), () => { })!;

        Assert.True(pacer.TryTake(300));
        Assert.False(pacer.TryTake(1));
    }

    private static SessionSettings Settings(int? messages, int? bytes) =>
        new(10, false, null, null, messages, bytes, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(60), TimeProvider.System, NullLogger.Instance);
}
