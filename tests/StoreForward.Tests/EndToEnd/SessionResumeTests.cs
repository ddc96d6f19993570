using System.Text.RegularExpressions;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.EndToEnd;

/// <summary>
/// A publisher stops with QoS 2 messages half way through the handshake; the next one on the same store must finish them
/// with the same packet ids, so that the broker delivers each exactly once.
/// </summary>
public sealed partial class SessionResumeTests : BrokerTest
{
    private const int Count = 10;

    [GeneratedRegex(@"Received PUBLISH from (?<client>\S+) \(d(?<dup>\d), q[12], r0, m(?<id>\d+),")]
    private static partial Regex ReceivedPublish();

    [GeneratedRegex(@"Received PUBREL from (?<client>\S+) \(Mid: (?<id>\d+)")]
    private static partial Regex ReceivedPubRel();

    private List<(bool Dup, int Id)> PublishesLogged() =>
        Broker.LogLines.Select(l => ReceivedPublish().Match(l)).Where(m => m.Success && m.Groups["client"].Value == ClientId)
            .Select(m => (m.Groups["dup"].Value == "1", int.Parse(m.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();

    private List<int> PubRelsLogged() =>
        Broker.LogLines.Select(l => ReceivedPubRel().Match(l)).Where(m => m.Success && m.Groups["client"].Value == ClientId)
            .Select(m => int.Parse(m.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();

    /// <summary>Publishes through a proxy that swallows one kind of answer, then stops the publisher mid-handshake.</summary>
    private async Task<PublishReceipt[]> PublishAndStopWhileSwallowing(int packetType, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.ExactlyOnce)
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        proxy.DropFromBroker = p => p.Type == packetType;
        var receipts = new PublishReceipt[Count];
        await using (var publisher = await StoreForwardPublisher.StartAsync(Options(proxy.Port)))
        {
            for (var i = 0; i < Count; i++)
                receipts[i] = await publisher.PublishAsync("sf/data", Payload(i), qos);
            for (var i = 0; i < 200 && proxy.SeenOfType(packetType, MqttProxyDirection.BrokerToClient).Count < Count; i++)
                await Task.Delay(25);
            Assert.Equal(Count, proxy.SeenOfType(packetType, MqttProxyDirection.BrokerToClient).Count);

            // Give the publisher time to act on what it did receive (PUBREC in one case) before it stops.
            await Task.Delay(300);
            Assert.Equal(Count, publisher.Status.PendingMessages);
        }

        return receipts;
    }

    [Theory]
    [InlineData(MqttPacketType.PubRec, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttPacketType.PubAck, MqttQualityOfServiceLevel.AtLeastOnce)]
    public async Task Unanswered_publishes_are_resent_after_a_restart_with_the_same_packet_ids_and_dup_and_delivered(int swallowed, MqttQualityOfServiceLevel qos)
    {
        var receipts = await PublishAndStopWhileSwallowing(swallowed, qos);
        var firstIds = PublishesLogged();
        Assert.All(firstIds, p => Assert.False(p.Dup));

        var publisher = await StartPublisherAsync(Options());
        await publisher.FlushAsync().WaitAsync(Patience);

        var resent = PublishesLogged().Skip(firstIds.Count).ToList();
        Assert.Equal(firstIds.Select(p => p.Id), resent.Select(p => p.Id));
        Assert.All(resent, p => Assert.True(p.Dup));

        // QoS 1: the broker forwarded the first copies already, so each arrives twice; QoS 2: exactly once.
        await AssertDeliveredAsync(0, receipts, exactlyOnce: qos == MqttQualityOfServiceLevel.ExactlyOnce);
    }

    [Fact]
    public async Task Released_messages_get_only_their_pubrel_after_a_restart_never_the_publish_again()
    {
        var receipts = await PublishAndStopWhileSwallowing(MqttPacketType.PubComp);
        var published = PublishesLogged();
        var released = PubRelsLogged();
        Assert.Equal(Count, published.Count);
        Assert.Equal(published.Select(p => p.Id), released);

        var publisher = await StartPublisherAsync(Options());
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(Count, PublishesLogged().Count);
        Assert.Equal(released, PubRelsLogged().Skip(Count));
        await AssertDeliveredAsync(0, receipts, exactlyOnce: true);
    }

    [Fact]
    public async Task A_new_store_first_discards_any_stale_broker_session_and_an_existing_store_never_does()
    {
        // A deleted store may leave QoS 2 ids at the broker; a fresh store numbers from 1 again. A strict broker would
        // drop the new messages as duplicates of those, so the first connection of a new store is a clean one.
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        await using (var first = await StoreForwardPublisher.StartAsync(Options(proxy.Port)))
        {
            await first.PublishAsync("sf/data", Payload(0), MqttQualityOfServiceLevel.ExactlyOnce);
            await first.FlushAsync().WaitAsync(Patience);
        }

        await using (var again = await StoreForwardPublisher.StartAsync(Options(proxy.Port)))
        {
            await again.PublishAsync("sf/data", Payload(1), MqttQualityOfServiceLevel.ExactlyOnce);
            await again.FlushAsync().WaitAsync(Patience);
        }

        var cleanFlags = proxy.SeenOfType(MqttPacketType.Connect, MqttProxyDirection.ClientToBroker).Select(CleanStartFlag).ToList();
        Assert.Equal([true, false, false], cleanFlags);
        var publishConnections = proxy.SeenOfType(MqttPacketType.Publish, MqttProxyDirection.ClientToBroker).Select(p => p.ConnectionId).Distinct();
        var cleanConnection = proxy.SeenOfType(MqttPacketType.Connect, MqttProxyDirection.ClientToBroker)[0].ConnectionId;
        Assert.DoesNotContain(cleanConnection, publishConnections);
    }

    /// <summary>Bit 1 of the CONNECT flags, after the fixed header and the protocol name and level.</summary>
    private static bool CleanStartFlag(MqttProxyPacket connect)
    {
        var raw = connect.Raw.Span;
        var header = 1;
        while ((raw[header] & 0x80) != 0)
            header++;
        header++;
        return (raw[header + 7] & 0x02) != 0;
    }

    [Fact]
    public async Task When_the_broker_lost_the_session_in_flight_messages_are_published_anew_and_the_loss_is_counted()
    {
        await using var proxy = MqttTcpProxy.Start(Broker.Host, Broker.Port);
        proxy.DropFromBroker = p => p.Type == MqttPacketType.PubAck;
        var publisher = await StartPublisherAsync(Options(proxy.Port));
        var receipts = await PublishManyAsync(publisher, 0, Count, MqttQualityOfServiceLevel.AtLeastOnce, producers: 1);
        for (var i = 0; i < 200 && proxy.SeenOfType(MqttPacketType.PubAck, MqttProxyDirection.BrokerToClient).Count < Count; i++)
            await Task.Delay(25);

        // The broker forgets every session: its persistence file is gone when it comes back.
        await Broker.StopAsync();
        File.Delete(Broker.PersistenceFile);
        proxy.DropFromBroker = null;
        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        Assert.Equal(1, publisher.Status.SessionsLost);
        Assert.Equal(0, publisher.Status.PendingMessages);

        // Published anew: a second, fresh (DUP=0) PUBLISH of each; a resend as DUP would be wrong for a session the
        // broker no longer has.
        var publishes = PublishesLogged();
        Assert.Equal(2 * Count, publishes.Count);
        Assert.All(publishes, p => Assert.False(p.Dup));
        await AssertDeliveredAsync(0, receipts, exactlyOnce: false);
    }
}
