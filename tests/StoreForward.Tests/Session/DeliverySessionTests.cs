using System.Buffers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
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
public sealed class DeliverySessionTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly TestDirectory _directory = new();
    private readonly SessionState _state = new();
    private readonly DeliveryCounters _counters = new();
    private readonly List<DeadLetter> _deadLetters = [];
    private OutboxStore _store = null!;
    private GroupCommitWriter _writer = null!;
    private DeliverySession? _current;

    public Task InitializeAsync()
    {
        _store = OutboxStore.Open(_directory.File("outbox.db"));
        _writer = new GroupCommitWriter(_store, TimeProvider.System);
        _writer.Committed += _ => Volatile.Read(ref _current)?.NotifyOutboxGrew();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _writer.DisposeAsync();
        _store.Dispose();
        _directory.Dispose();
    }

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

        await Eventually.TrueAsync(() => _writer.Snapshot.PendingMessages == 0, "every acknowledged message left the store", Patience);
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
        _store.LogFile.Faults = disk;
        broker.Answer(new MqttPubRecPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => disk.Waiting > 0, "the PUBREC's commit waits for the disk", Patience);
        await SettleAsync();
        Assert.Empty(broker.SentSoFar());

        disk.Release();
        Assert.Equal(publish.PacketIdentifier, (await broker.ExpectAsync<MqttPubRelPacket>()).PacketIdentifier);
        _store.LogFile.Faults = null;
        Assert.Equal(1, _writer.Snapshot.PendingMessages);

        broker.Answer(new MqttPubCompPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => _writer.Snapshot.PendingMessages == 0, "the completed message left the store", Patience);
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
        Assert.Equal(0, _counters.SessionsLost);
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
        Assert.Equal(1, _counters.SessionsLost);
        await StopAsync(run, stop);

        // A restart must not PUBREL what this broker no longer has: the recorded PUBREC is gone from the disk too.
        var restarted = new SessionState();
        await restarted.EnsureLoadedAsync(_writer);
        Assert.All(restarted.InFlightInOrder, m => Assert.NotEqual(DeliveryState.Released, m.State));
    }

    [Fact]
    public async Task The_publish_rate_holds_new_messages_back_and_wakes_the_session_when_the_next_may_go()
    {
        var sequences = await AppendAsync(4, MqttQualityOfServiceLevel.AtLeastOnce);
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker, maxInFlight: 10, maxPublishRate: 1);

        // The bucket's burst of two goes at once.
        var burst = (await broker.ExpectAsync(2)).Cast<MqttPublishPacket>();
        Assert.Equal(sequences[..2].Select(PacketIds.Of), burst.Select(p => p.PacketIdentifier));
        await SettleAsync();

        // Without the limit all four would be out at once; at one a second the next waits (a whole second, while this
        // settles for a fifth of one), and the pacer's wake-up, not another event, lets it go.
        Assert.Empty(broker.SentSoFar());
        Assert.Equal(PacketIds.Of(sequences[2]), (await broker.ExpectAsync<MqttPublishPacket>()).PacketIdentifier);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task Resends_after_a_reconnect_do_not_wait_for_the_publish_rate()
    {
        var sequences = await AppendAsync(5, MqttQualityOfServiceLevel.AtLeastOnce);
        var first = new ScriptedBroker();
        var (_, firstRun, _) = Start(first, maxInFlight: 3);
        await first.ExpectAsync(3);
        first.Break();
        await Assert.ThrowsAsync<LinkLostException>(() => firstRun);
        _state.Invalidate();

        var second = new ScriptedBroker(sessionPresent: true);
        var (_, run, stop) = Start(second, maxInFlight: 10, maxPublishRate: 1);

        // The three in flight are resent at once, though the rate lets one new message go a second (what the sent mark
        // covers beyond them may have been sent too, so it is resent as well).
        List<MqttPublishPacket> resent = [await second.ExpectAsync<MqttPublishPacket>()];
        await SettleAsync();
        resent.AddRange(second.SentSoFar().Cast<MqttPublishPacket>());
        Assert.True(resent.Count >= 3, $"{resent.Count} packets right after the reconnect");
        Assert.Equal(sequences[..3].Select(PacketIds.Of), resent.Take(3).Select(p => p.PacketIdentifier));
        Assert.All(resent.Take(3), p => Assert.True(p.Dup));
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task Presence_online_goes_first_retained_with_a_free_id_and_is_acknowledged_before_the_resends()
    {
        var sequences = await TwoInFlightTheFirstReleasedThenTheLinkBreaksAsync();
        var inFlightIds = sequences.Select(PacketIds.Of).ToList();

        var second = new ScriptedBroker(sessionPresent: true);
        var (_, run, stop) = Start(second, presence: new PresenceOptions { Topic = "plant/gw/state" });
        var online = await second.ExpectAsync<MqttPublishPacket>();
        Assert.Equal(("plant/gw/state", "online", true, MqttQualityOfServiceLevel.AtLeastOnce), (online.Topic, System.Text.Encoding.UTF8.GetString(online.Payload.ToArray()), online.Retain, online.QualityOfServiceLevel));
        Assert.DoesNotContain(online.PacketIdentifier, inFlightIds);

        // Nothing else until the broker took the state: its PUBACK must not meet a message's.
        await SettleAsync();
        Assert.Empty(second.SentSoFar());
        second.Answer(new MqttPubAckPacket { PacketIdentifier = online.PacketIdentifier });
        var resent = await second.ExpectAsync(2);
        Assert.Single(resent.OfType<MqttPubRelPacket>());
        Assert.True(Assert.Single(resent.OfType<MqttPublishPacket>()).Dup);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task A_graceful_stop_publishes_offline_retained_right_before_disconnect()
    {
        var broker = new ScriptedBroker();
        var (_, run, stop) = Start(broker, presence: new PresenceOptions { Topic = "plant/gw/state", OfflinePayload = "gone", Qos = MqttQualityOfServiceLevel.AtMostOnce });
        var online = await broker.ExpectAsync<MqttPublishPacket>();
        Assert.Equal((MqttQualityOfServiceLevel.AtMostOnce, (ushort)0), (online.QualityOfServiceLevel, online.PacketIdentifier));

        await StopAsync(run, stop);

        var offline = await broker.ExpectAsync<MqttPublishPacket>();
        Assert.Equal(("plant/gw/state", "gone", true), (offline.Topic, System.Text.Encoding.UTF8.GetString(offline.Payload.ToArray()), offline.Retain));
        await broker.ExpectAsync<MqttDisconnectPacket>();
    }

    /// <summary>Hands out the next token for the method SF, ten minutes long, and answers a challenge with it reversed.</summary>
    private sealed class TokenProvider(FakeTimeProvider time) : IMqttCredentialsProvider
    {
        private int _issued = 1;

        public ValueTask<MqttCredentials> GetCredentialsAsync(string server, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new MqttCredentials(null, null)
            {
                AuthenticationMethod = "SF",
                AuthenticationData = Encoding.UTF8.GetBytes($"token-{Interlocked.Increment(ref _issued)}"),
                ExpiresAt = time.GetUtcNow().AddMinutes(10),
            });

        public ValueTask<byte[]> ContinueAuthenticationAsync(string server, string method, byte[]? challenge, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Encoding.UTF8.GetBytes(new string(Encoding.UTF8.GetString(challenge ?? []).Reverse().ToArray())));
    }

    /// <summary>Moves the fake clock five seconds at a time until the session sent <paramref name="next"/>'s packet.</summary>
    private static async Task<T> AdvanceUntilAsync<T>(FakeTimeProvider time, Task<T> next)
    {
        while (!next.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(5);
        }

        return await next;
    }

    [Fact]
    public async Task Before_enhanced_credentials_expire_the_session_reauthenticates_in_band_and_goes_on()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var broker = new ScriptedBroker(credentials: new MqttCredentials(null, null)
        {
            AuthenticationMethod = "SF",
            AuthenticationData = "token-1"u8.ToArray(),
            ExpiresAt = time.GetUtcNow().AddMinutes(10),
        });
        var (_, run, stop) = Start(broker, time: time, credentials: new TokenProvider(time));
        var started = time.GetUtcNow();

        var renew = await AdvanceUntilAsync(time, broker.ExpectAsync<MqttAuthPacket>());
        Assert.Equal((MqttAuthenticateReasonCode.ReAuthenticate, "SF", "token-2"), (renew.ReasonCode, renew.AuthenticationMethod, Encoding.UTF8.GetString(renew.AuthenticationData)));
        Assert.InRange(time.GetUtcNow() - started, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(9) + TimeSpan.FromSeconds(10));

        broker.Answer(new MqttAuthPacket { ReasonCode = MqttAuthenticateReasonCode.ContinueAuthentication, AuthenticationMethod = "SF", AuthenticationData = "nonce"u8.ToArray() });
        var answer = await broker.ExpectAsync<MqttAuthPacket>();
        Assert.Equal((MqttAuthenticateReasonCode.ContinueAuthentication, "ecnon"), (answer.ReasonCode, Encoding.UTF8.GetString(answer.AuthenticationData)));
        broker.Answer(new MqttAuthPacket { ReasonCode = MqttAuthenticateReasonCode.Success, AuthenticationMethod = "SF" });

        // The same link goes on, and the new token's period is watched in turn.
        var sequence = (await AppendAsync(1, MqttQualityOfServiceLevel.AtLeastOnce))[0];
        Assert.Equal(PacketIds.Of(sequence), (await broker.ExpectAsync<MqttPublishPacket>()).PacketIdentifier);
        var again = await AdvanceUntilAsync(time, broker.ExpectAsync<MqttAuthPacket>());
        Assert.Equal("token-3", Encoding.UTF8.GetString(again.AuthenticationData));
        Assert.False(run.IsCompleted);
        await StopAsync(run, stop);
    }

    [Fact]
    public async Task Before_plain_credentials_expire_the_session_winds_down_for_a_reconnect_and_keeps_the_presence_online()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var broker = new ScriptedBroker(credentials: new MqttCredentials("gateway", "token-1") { ExpiresAt = time.GetUtcNow().AddMinutes(10) });
        var (_, run, _) = Start(broker, presence: new PresenceOptions { Topic = "plant/gw/state", Qos = MqttQualityOfServiceLevel.AtMostOnce }, time: time, credentials: new TokenProvider(time));
        Assert.Equal("plant/gw/state", (await broker.ExpectAsync<MqttPublishPacket>()).Topic);

        // Goodbye without the offline state: the engine connects again at once with new credentials.
        await AdvanceUntilAsync(time, broker.ExpectAsync<MqttDisconnectPacket>());
        await run.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_broker_that_never_answers_the_reauthentication_gets_a_reconnect_after_the_ack_timeout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var broker = new ScriptedBroker(credentials: new MqttCredentials(null, null) { AuthenticationMethod = "SF", ExpiresAt = time.GetUtcNow().AddMinutes(10) });
        var (_, run, _) = Start(broker, time: time, credentials: new TokenProvider(time));
        await AdvanceUntilAsync(time, broker.ExpectAsync<MqttAuthPacket>());

        await AdvanceUntilAsync(time, broker.ExpectAsync<MqttDisconnectPacket>());
        await run.WaitAsync(Patience);
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
        Assert.Equal(4, _writer.Snapshot.PendingMessages);
        _state.Invalidate();

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
        Assert.Equal(1, _writer.Snapshot.PendingMessages);

        broker.Answer(new MqttPubRecPacket { PacketIdentifier = publish.PacketIdentifier });
        Assert.Equal(MqttPubRelReasonCode.Success, (await broker.ExpectAsync<MqttPubRelPacket>()).ReasonCode);
        broker.Answer(new MqttPubCompPacket { PacketIdentifier = publish.PacketIdentifier });
        await Eventually.TrueAsync(() => _writer.Snapshot.PendingMessages == 0, "the message left the store after its PUBCOMP", Patience);
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
        await Eventually.TrueAsync(() => _deadLetters.Count == 1, "the refused message is reported as a dead letter", Patience);

        var deadLetter = Assert.Single(_deadLetters);
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
        Assert.Equal(1, _writer.Snapshot.PendingMessages);
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
        Assert.Equal(sequences.Length - 1, _writer.Snapshot.PendingMessages);
        stop.Dispose();
    }

    /// <summary>
    /// Two QoS 2 messages in flight, the first one's PUBREC recorded and released, and then the link breaks: the state a
    /// reconnect resumes from. Returns their sequences.
    /// </summary>
    private async Task<long[]> TwoInFlightTheFirstReleasedThenTheLinkBreaksAsync()
    {
        var sequences = await AppendAsync(2, MqttQualityOfServiceLevel.ExactlyOnce);
        var first = new ScriptedBroker();
        var (_, run, _) = Start(first);
        var publishes = (await first.ExpectAsync(2)).Cast<MqttPublishPacket>().ToList();
        first.Answer(new MqttPubRecPacket { PacketIdentifier = publishes[0].PacketIdentifier });
        await first.ExpectAsync<MqttPubRelPacket>();
        first.Break();
        await Assert.ThrowsAsync<LinkLostException>(() => run);
        _state.Invalidate();
        return sequences;
    }

    private (DeliverySession Session, Task Run, CancellationTokenSource Stop) Start(
        IBrokerLink broker, int maxInFlight = 10, int? maxPublishRate = null, PresenceOptions? presence = null,
        TimeProvider? time = null, IMqttCredentialsProvider? credentials = null)
    {
        var options = new StoreForwardOptions
        {
            ClientId = "scripted",
            StorePath = _store.FilePath,
            MaxInFlight = maxInFlight,
            MaxPublishRate = maxPublishRate,
            Presence = presence,
            TimeProvider = time ?? TimeProvider.System,
            CredentialsProvider = credentials,
            KeepAlive = TimeSpan.FromMinutes(10),
            AckTimeout = TimeSpan.FromMinutes(10),
        };
        var session = new DeliverySession(broker, _state, _writer, LayerSettings.Engine(options).Session, _counters, d =>
        {
            lock (_deadLetters)
                _deadLetters.AddRange(d);
        });
        Volatile.Write(ref _current, session);
        var stop = new CancellationTokenSource();
        return (session, session.RunAsync(stop.Token), stop);
    }

    /// <summary>Stops the session as the publisher's stop does: the loop ends by the cancellation, and says goodbye.</summary>
    private static async Task StopAsync(Task run, CancellationTokenSource stop)
    {
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Patience));
        stop.Dispose();
    }

    private Task<long[]> AppendAsync(int count, MqttQualityOfServiceLevel qos) =>
        _writer.RunAsync(store => Enumerable.Range(0, count)
            .Select(i => store.Append("plant/t", [(byte)i], qos, false, DateTimeOffset.UtcNow))
            .ToArray());

    /// <summary>
    /// Gives a session that is about to do something wrong the time to do it, before the test checks that it did not:
    /// the session runs on other threads, so "nothing was sent" can only be seen after a pause.
    /// </summary>
    private static Task SettleAsync() => Task.Delay(200);
}
