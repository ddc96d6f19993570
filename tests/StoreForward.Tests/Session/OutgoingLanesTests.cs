using MQTTnet.Packets;
using StoreForward.Session;

namespace StoreForward.Tests.Session;

[Trait("Category", "Unit")]
public sealed class OutgoingLanesTests
{
    private static MqttPublishPacket Publish(ushort id) => new() { Topic = "t", PacketIdentifier = id };

    private static MqttPubRelPacket Release(ushort id) => new() { PacketIdentifier = id };

    private static string Describe(IEnumerable<MqttPacket> packets) =>
        string.Join(" ", packets.Select(p => p switch
        {
            MqttPublishPacket publish => $"P{publish.PacketIdentifier}",
            MqttPubRelPacket release => $"R{release.PacketIdentifier}",
            _ => p.GetType().Name,
        }));

    [Fact]
    public void Publishes_leave_while_releases_wait_for_their_commit()
    {
        var lanes = new OutgoingLanes();
        var pubRecCommit = new TaskCompletionSource<bool>();
        lanes.Enqueue(new OutgoingPackets(Lane.Answers, [Release(1), Release(2)], pubRecCommit.Task));
        lanes.Enqueue(new OutgoingPackets(Lane.Publishes, [Publish(3)], null));
        lanes.Enqueue(new OutgoingPackets(Lane.Answers, [Release(4)], null));
        var ready = new List<MqttPacket>();

        var blocking = lanes.TakeReady(ready);

        // The release without a commit of its own still waits behind the earlier ones: PUBRELs keep their order.
        Assert.Equal("P3", Describe(ready));
        Assert.Same(pubRecCommit.Task, blocking);

        ready.Clear();
        pubRecCommit.SetResult(true);
        Assert.Null(lanes.TakeReady(ready));
        Assert.Equal("R1 R2 R4", Describe(ready));
    }

    [Fact]
    public void A_publish_never_overtakes_an_earlier_publish_that_waits()
    {
        var lanes = new OutgoingLanes();
        var sentMarkCommit = new TaskCompletionSource<bool>();
        lanes.Enqueue(new OutgoingPackets(Lane.Publishes, [Publish(1)], sentMarkCommit.Task));
        lanes.Enqueue(new OutgoingPackets(Lane.Publishes, [Publish(2)], null));
        var ready = new List<MqttPacket>();

        Assert.Same(sentMarkCommit.Task, lanes.TakeReady(ready));
        Assert.Empty(ready);

        sentMarkCommit.SetResult(true);
        Assert.Null(lanes.TakeReady(ready));
        Assert.Equal("P1 P2", Describe(ready));
    }

    [Fact]
    public void Nothing_that_depends_on_a_failed_commit_leaves()
    {
        var lanes = new OutgoingLanes();
        var failed = new TaskCompletionSource<bool>();
        lanes.Enqueue(new OutgoingPackets(Lane.Answers, [Release(1)], failed.Task));
        failed.SetException(new IOException("disk full"));
        var ready = new List<MqttPacket>();

        // TakeReady returns the commit to wait for, so the analyzer takes it for async code; it throws synchronously.
        void Take() => _ = lanes.TakeReady(ready);
        var error = Assert.Throws<IOException>(Take);

        Assert.Equal("disk full", error.Message);
        Assert.Empty(ready);
    }
}
