using StoreForward.Session;

namespace StoreForward.Tests.Session;

[Trait("Category", "Unit")]
public sealed class MessageExpiryTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 8, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(3600_000, 3600u)]
    [InlineData(1_500, 2u)]
    [InlineData(1, 1u)]
    [InlineData(0, 1u)]
    [InlineData(-5_000, 1u)]
    public void The_interval_on_the_wire_is_the_remaining_lifetime_rounded_up_and_at_least_one_second(int remainingMs, uint seconds) =>
        Assert.Equal(seconds, MessageExpiry.RemainingSeconds(Now.AddMilliseconds(remainingMs), Now));

    [Fact]
    public void A_message_expires_at_its_expiry_time_and_one_without_expiry_never_does()
    {
        Assert.True(MessageExpiry.HasExpired(Now, Now));
        Assert.False(MessageExpiry.HasExpired(Now.AddTicks(1), Now));
        Assert.False(MessageExpiry.HasExpired(null, Now));
    }
}
