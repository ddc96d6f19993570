using MQTTnet;
using MQTTnet.Packets;
using StoreForward.Subscribing;

namespace StoreForward.Tests.Subscribing;

[Trait("Category", "Unit")]
public sealed class DuplicateFilterTests
{
    [Fact]
    public void A_sequence_seen_before_from_the_same_publisher_is_a_repeat_and_publishers_do_not_mix()
    {
        var filter = new DuplicateFilter();

        Assert.False(filter.IsDuplicate("a", 1));
        Assert.False(filter.IsDuplicate("a", 3));
        Assert.False(filter.IsDuplicate("b", 1));
        Assert.False(filter.IsDuplicate("a", 2));
        Assert.True(filter.IsDuplicate("a", 1));
        Assert.True(filter.IsDuplicate("a", 3));
        Assert.True(filter.IsDuplicate("b", 1));
    }

    [Fact]
    public void Within_the_window_order_does_not_matter_and_older_than_the_window_counts_as_a_repeat()
    {
        var filter = new DuplicateFilter(window: 64);

        Assert.False(filter.IsDuplicate("a", 100));
        Assert.False(filter.IsDuplicate("a", 40));
        Assert.True(filter.IsDuplicate("a", 36));
        Assert.False(filter.IsDuplicate("a", 164));

        // The window moved past 100 and 40: their bits were reused, not mistaken for the new sequences.
        Assert.False(filter.IsDuplicate("a", 163));
        Assert.True(filter.IsDuplicate("a", 100));
        Assert.False(filter.IsDuplicate("a", 1_000_000));
        Assert.False(filter.IsDuplicate("a", 999_999));
        Assert.True(filter.IsDuplicate("a", 1_000_000));
    }

    [Fact]
    public void The_publisher_not_heard_from_longest_is_forgotten_beyond_the_bound()
    {
        var filter = new DuplicateFilter(maxPublishers: 2);
        filter.IsDuplicate("a", 1);
        filter.IsDuplicate("b", 1);
        filter.IsDuplicate("a", 2);
        filter.IsDuplicate("c", 1);

        Assert.Equal(2, filter.Publishers);
        Assert.True(filter.IsDuplicate("a", 1));
        Assert.False(filter.IsDuplicate("b", 1));
    }

    [Fact]
    public void A_message_judges_by_its_identity_properties_and_one_without_them_passes()
    {
        var filter = new DuplicateFilter();
        MqttApplicationMessage Stamped(string clientId, string sequence) => new()
        {
            Topic = "t",
            UserProperties =
            [
                new MqttUserProperty("other", "x"u8.ToArray().AsMemory()),
                new MqttUserProperty(MessageIdentity.ClientIdProperty, System.Text.Encoding.UTF8.GetBytes(clientId).AsMemory()),
                new MqttUserProperty(MessageIdentity.SequenceProperty, System.Text.Encoding.UTF8.GetBytes(sequence).AsMemory()),
            ],
        };

        Assert.False(filter.IsDuplicate(Stamped("gw-1", "42")));
        Assert.True(filter.IsDuplicate(Stamped("gw-1", "42")));
        Assert.False(filter.IsDuplicate(Stamped("gw-2", "42")));
        Assert.False(filter.IsDuplicate(new MqttApplicationMessage { Topic = "t" }));
        Assert.False(filter.IsDuplicate(new MqttApplicationMessage { Topic = "t" }));
        Assert.False(filter.IsDuplicate(Stamped("gw-1", "not a number")));
    }
}
