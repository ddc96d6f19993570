using StoreForward.Publishing;

namespace StoreForward.Tests.Publishing;

[Trait("Category", "Unit")]
public sealed class TopicFilterTests
{
    [Theory]
    [InlineData("plant/+/temperature", "plant/7/temperature", true)]
    [InlineData("plant/+/temperature", "plant/7/pressure", false)]
    [InlineData("plant/+/temperature", "plant/7/temperature/x", false)]
    [InlineData("plant/#", "plant", true)]
    [InlineData("plant/#", "plant/7/temperature", true)]
    [InlineData("#", "anything/at/all", true)]
    [InlineData("#", "$SYS/broker", false)]
    [InlineData("+/broker", "$SYS/broker", false)]
    [InlineData("$SYS/#", "$SYS/broker", true)]
    [InlineData("plant/temperature", "plant/temperature", true)]
    [InlineData("plant/+", "plant/", true)]
    public void A_filter_matches_as_a_broker_matches_a_subscription(string filter, string topic, bool matches) =>
        Assert.Equal(matches, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("plant/#/x", "'#' must be a whole level and the last one")]
    [InlineData("plant/a#", "'#' must be a whole level")]
    [InlineData("plant/a+", "'+' must be a whole level")]
    public void A_bad_filter_is_named_with_its_problem(string filter, string problem) =>
        Assert.Contains(problem, TopicFilter.Problem(filter), StringComparison.Ordinal);
}
