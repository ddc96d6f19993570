using System.Buffers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Session;
using StoreForward.Tests.Infrastructure;
using StoreForward.Transport;

namespace StoreForward.Tests.Session;

/// <summary>
/// The session's policies around the protocol, against a scripted broker: the publish rate limits (new messages wait,
/// resends do not), the presence state (online first and acknowledged before the backlog, offline before a goodbye),
/// and credentials that expire (re-authenticated in band, or renewed by a reconnect), on a fake clock where it drives them.
/// </summary>
[Trait("Category", "Unit")]
public sealed class SessionPolicyTests : ScriptedSessionTest
{
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
        State.Invalidate();

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
}
