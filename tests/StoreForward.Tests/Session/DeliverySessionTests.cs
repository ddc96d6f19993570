using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Outbox;
using StoreForward.Session;
using StoreForward.Tests.Faults;
using StoreForward.Tests.Infrastructure;
using StoreForward.Transport;

namespace StoreForward.Tests.Session;

/// <summary>
/// The session's protocol decisions, packet in and packet out, against a broker the test plays by hand: the window, the
/// QoS 2 handshake and what must be durable before which packet, the resume with and without the broker's session, and
/// the answers that only a crashed broker gives (Quota exceeded, a late PUBCOMP, an unknown PUBREC).
/// </summary>
[Trait("Category", "Unit")]
public sealed class DeliverySessionTests : ScriptedSessionTest
{
    [Fact]
    public async Task The_window_holds_at_most_max_in_flight_and_each_acknowledgement_lets_the_next_one_go()
    {
        var sequences = await AppendAsync(5, MqttQualityOfServiceLevel.AtLeastOnce);
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker, maxInFlight: 3);

        var first = (await broker.ExpectAsync(3)).Cast<MqttPublishPacket>().ToList();
        Assert.Equal(sequences[..3].Select(PacketIds.Of), first.Select(p => p.PacketIdentifier));
        Assert.All(first, p => Assert.False(p.Dup));
        await SettleAsync();
        Assert.Empty(broker.SentSoFar());

        broker.Answer(new MqttPubAckPacket { PacketIdentifier = first[0].PacketIdentifier });
        Assert.Equal(PacketIds.Of(sequences[3]), (await broker.ExpectAsync<MqttPublishPacket>()).PacketIdentifier);
        await SettleAsync();
        Assert.Empty(broker.SentSoFar());

        foreach (var id in first.Skip(1).Select(p => p.PacketIdentifier).Append(PacketIds.Of(sequences[3])))
            broker.Answer(new MqttPubAckPacket { PacketIdentifier = id });
        Assert.Equal(PacketIds.Of(sequences[4]), (await broker.ExpectAsync<MqttPublishPacket>()).PacketIdentifier);
        broker.Answer(new MqttPubAckPacket { PacketIdentifier = PacketIds.Of(sequences[4]) });

        await Eventually.TrueAsync(() => Writer.Snapshot.PendingMessages == 0, "every acknowledged message left the store", Patience);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task The_brokers_receive_maximum_caps_the_window_below_max_in_flight()
    {
        await AppendAsync(4, MqttQualityOfServiceLevel.AtLeastOnce);
        var broker = new ScriptedBroker(receiveMaximum: 2);
        var (session, run, stop) = Start(broker, maxInFlight: 10);

        Assert.Equal(2, session.Window);
        await broker.ExpectAsync(2);
        await SettleAsync();
        Assert.Empty(broker.SentSoFar());
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_pubrel_waits_until_its_pubrec_is_durable_and_a_pubcomp_removes_the_message()
    {
        var sequence = (await AppendAsync(1, MqttQualityOfServiceLevel.ExactlyOnce))[0];
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker);
        var publish = await broker.ExpectAsync<MqttPublishPacket>();
        Assert.Equal(PacketIds.Of(sequence), publish.PacketIdentifier);

        // The disk stops answering: the PUBREC's record cannot land, so the PUBREL must not leave.
        using var disk = new HeldSync();
        Store.LogFile.Faults = disk;
        broker.Answer(new MqttPubRecPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => disk.Waiting > 0, "the PUBREC's commit waits for the disk", Patience);
        await SettleAsync();
        Assert.Empty(broker.SentSoFar());

        disk.Release();
        Assert.Equal(publish.PacketIdentifier, (await broker.ExpectAsync<MqttPubRelPacket>()).PacketIdentifier);
        Store.LogFile.Faults = null;
        Assert.Equal(1, Writer.Snapshot.PendingMessages);

        broker.Answer(new MqttPubCompPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => Writer.Snapshot.PendingMessages == 0, "the completed message left the store", Patience);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_qos1_message_sent_alone_records_its_sent_mark_in_the_commit_of_its_removal()
    {
        var sequence = (await AppendAsync(1, MqttQualityOfServiceLevel.AtLeastOnce))[0];
        var commitsBefore = Writer.CommitCount;
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker);

        // Nothing waits for a QoS 1 message's mark, so it does not cost a commit of its own: a sensor that publishes one
        // message at a time pays two commits per message (its publish and its removal), not three.
        var publish = await broker.ExpectAsync<MqttPublishPacket>();
        await SettleAsync();
        Assert.Equal(commitsBefore, Writer.CommitCount);
        Assert.Equal(0, Store.SentThrough);

        broker.Answer(new MqttPubAckPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => Writer.Snapshot.PendingMessages == 0, "the acknowledged message left the store", Patience);
        Assert.Equal(commitsBefore + 1, Writer.CommitCount);
        Assert.Equal(sequence, Store.SentThrough);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_sent_mark_that_waits_is_recorded_when_the_link_breaks_so_the_next_session_resends_with_dup()
    {
        var sequence = (await AppendAsync(1, MqttQualityOfServiceLevel.AtLeastOnce))[0];
        var first = new ScriptedBroker();
        var (_, firstRun, _) = Start(first);
        await first.ExpectAsync<MqttPublishPacket>();
        first.Break();
        await Assert.ThrowsAsync<LinkLostException>(() => firstRun);

        // The session's end recorded it: the next session knows the message went out, resends it as such (DUP, and
        // counted as a delivery attempt), and is not held by the publish rate as a first send would be.
        Assert.Equal(sequence, Store.SentThrough);
        State.Invalidate();
        var second = new ScriptedBroker(sessionPresent: true);
        var (_, run, stop) = Start(second);
        var again = await second.ExpectAsync<MqttPublishPacket>();
        Assert.Equal(PacketIds.Of(sequence), again.PacketIdentifier);
        Assert.True(again.Dup);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task With_the_session_present_a_reconnect_resends_with_the_same_ids_and_dup_or_only_releases()
    {
        var sequences = await TwoInFlightTheFirstReleasedThenTheLinkBreaksAsync();

        var second = new ScriptedBroker(sessionPresent: true);
        var (_, run, stop) = Start(second);
        var resent = await second.ExpectAsync(2);

        var release = Assert.Single(resent.OfType<MqttPubRelPacket>());
        Assert.Equal(PacketIds.Of(sequences[0]), release.PacketIdentifier);
        var again = Assert.Single(resent.OfType<MqttPublishPacket>());
        Assert.Equal(PacketIds.Of(sequences[1]), again.PacketIdentifier);
        Assert.True(again.Dup);
        Assert.Equal(0, Counters.SessionsLost);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task Without_the_session_the_messages_in_flight_are_published_anew_and_their_pubrecs_forgotten_on_disk()
    {
        var sequences = await TwoInFlightTheFirstReleasedThenTheLinkBreaksAsync();

        var second = new ScriptedBroker(sessionPresent: false);
        var (_, run, stop) = Start(second);
        var anew = (await second.ExpectAsync(2)).Cast<MqttPublishPacket>().ToList();

        Assert.Equal(sequences.Select(PacketIds.Of), anew.Select(p => p.PacketIdentifier));
        Assert.All(anew, p => Assert.False(p.Dup));
        Assert.Equal(1, Counters.SessionsLost);
        await StopAsync(run, stop);

        // A restart must not PUBREL what this broker no longer has: the recorded PUBREC is gone from the disk too.
        var restarted = new SessionState();
        await restarted.EnsureLoadedAsync(Writer);
        Assert.All(restarted.InFlightInOrder, m => Assert.NotEqual(DeliveryState.Released, m.State));
    }

    [Fact]
    public async Task Quota_exceeded_ends_the_session_and_the_next_one_keeps_fewer_in_flight()
    {
        await AppendAsync(4, MqttQualityOfServiceLevel.AtLeastOnce);
        var first = new ScriptedBroker();
        var (_, run, _) = Start(first, maxInFlight: 4);
        var publishes = (await first.ExpectAsync(4)).Cast<MqttPublishPacket>().ToList();

        first.Answer(new MqttPubAckPacket { PacketIdentifier = publishes[0].PacketIdentifier, ReasonCode = MqttPubAckReasonCode.QuotaExceeded });
        var error = await Assert.ThrowsAsync<LinkLostException>(() => run);
        Assert.Contains("Quota exceeded (0x97) with 4 messages outstanding", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, Writer.Snapshot.PendingMessages);
        State.Invalidate();

        var second = new ScriptedBroker(sessionPresent: true);
        (var session, run, var stop) = Start(second, maxInFlight: 4);
        Assert.Equal(3, session.Window);
        var resent = (await second.ExpectAsync(3)).Cast<MqttPublishPacket>().ToList();
        Assert.Equal(publishes.Take(3).Select(p => p.PacketIdentifier), resent.Select(p => p.PacketIdentifier));
        Assert.All(resent, p => Assert.True(p.Dup));
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_late_pubcomp_for_a_message_not_released_and_a_pubrec_for_an_unknown_id_change_nothing()
    {
        await AppendAsync(1, MqttQualityOfServiceLevel.ExactlyOnce);
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker);
        var publish = await broker.ExpectAsync<MqttPublishPacket>();

        // A PUBCOMP answering an earlier life's PUBREL for this id must not complete a message still awaiting its PUBREC.
        broker.Answer(new MqttPubCompPacket { PacketIdentifier = publish.PacketIdentifier });
        broker.Answer(new MqttPubRecPacket { PacketIdentifier = 999 });
        var unknown = await broker.ExpectAsync<MqttPubRelPacket>();
        Assert.Equal(999, unknown.PacketIdentifier);
        Assert.Equal(MqttPubRelReasonCode.PacketIdentifierNotFound, unknown.ReasonCode);
        Assert.Equal(1, Writer.Snapshot.PendingMessages);

        broker.Answer(new MqttPubRecPacket { PacketIdentifier = publish.PacketIdentifier });
        Assert.Equal(MqttPubRelReasonCode.Success, (await broker.ExpectAsync<MqttPubRelPacket>()).ReasonCode);
        broker.Answer(new MqttPubCompPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => Writer.Snapshot.PendingMessages == 0, "the message left the store after its PUBCOMP", Patience);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_refusal_with_a_reason_code_makes_a_dead_letter_and_the_queue_moves_on()
    {
        var sequences = await AppendAsync(2, MqttQualityOfServiceLevel.AtLeastOnce);
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker, maxInFlight: 1);
        var refused = await broker.ExpectAsync<MqttPublishPacket>();

        broker.Answer(new MqttPubAckPacket { PacketIdentifier = refused.PacketIdentifier, ReasonCode = MqttPubAckReasonCode.NotAuthorized, ReasonString = "acl" });
        var next = await broker.ExpectAsync<MqttPublishPacket>();
        Assert.Equal(PacketIds.Of(sequences[1]), next.PacketIdentifier);
        await Eventually.TrueAsync(() => DeadLetters.Count == 1, "the refused message is reported as a dead letter", Patience);

        var deadLetter = Assert.Single(DeadLetters);
        Assert.Equal(sequences[0], deadLetter.Sequence);
        Assert.Equal(DeadLetterReason.RejectedByBroker, deadLetter.Reason);
        Assert.Equal((int)MqttPubAckReasonCode.NotAuthorized, deadLetter.ReasonCode);
        Assert.Contains("acl", deadLetter.Detail, StringComparison.Ordinal);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_disconnect_from_the_broker_ends_the_session_naming_its_reason()
    {
        await AppendAsync(1, MqttQualityOfServiceLevel.AtLeastOnce);
        var broker = new ScriptedBroker();
        var (_, run, _) = Start(broker);
        await broker.ExpectAsync<MqttPublishPacket>();

        broker.Answer(new MqttDisconnectPacket { ReasonCode = MqttDisconnectReasonCode.SessionTakenOver });

        var error = await Assert.ThrowsAsync<LinkLostException>(() => run);
        Assert.Contains("SessionTakenOver (0x8E)", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, Writer.Snapshot.PendingMessages);
    }

    [Fact]
    public async Task Winding_down_sends_nothing_new_finishes_what_is_in_flight_and_says_goodbye()
    {
        var sequences = await AppendAsync(3, MqttQualityOfServiceLevel.AtLeastOnce);
        var broker = new ScriptedBroker();
        var (session, run, stop) = Start(broker, maxInFlight: 1);
        var inFlight = await broker.ExpectAsync<MqttPublishPacket>();

        session.WindDown();
        await SettleAsync();
        Assert.Empty(broker.SentSoFar());
        Assert.False(run.IsCompleted);

        broker.Answer(new MqttPubAckPacket { PacketIdentifier = inFlight.PacketIdentifier });
        await broker.ExpectAsync<MqttDisconnectPacket>();
        await run.WaitAsync(Patience);
        Assert.Equal(sequences.Length - 1, Writer.Snapshot.PendingMessages);
        stop.Dispose();
    }

    /// <summary>
    /// Two QoS 2 messages in flight, the first one's PUBREC recorded and released, and then the link breaks: the state a
    /// reconnect resumes from. Returns their sequences.
    /// </summary>
}
