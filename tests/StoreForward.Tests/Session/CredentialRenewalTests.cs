using StoreForward.Session;

namespace StoreForward.Tests.Session;

[Trait("Category", "Unit")]
public sealed class CredentialRenewalTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(600, 540)]
    [InlineData(10, 9)]
    [InlineData(2, 1.8)]
    public void A_connection_is_renewed_when_nine_tenths_of_the_time_left_have_passed(double leftSeconds, double dueSeconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(dueSeconds), CredentialRenewal.Due(Now, Now.AddSeconds(leftSeconds)));
    }

    [Theory]
    [InlineData(1.9)]
    [InlineData(0)]
    [InlineData(-60)]
    public void Credentials_about_to_expire_or_expired_are_not_renewed_the_broker_drops_the_link_instead(double leftSeconds)
    {
        Assert.Null(CredentialRenewal.Due(Now, Now.AddSeconds(leftSeconds)));
    }

    [Fact]
    public void Credentials_without_an_expiry_are_never_renewed()
    {
        Assert.Null(CredentialRenewal.Due(Now, null));
    }
}
