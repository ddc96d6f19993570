using System.Net;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;
using MQTTnet.Server.EnhancedAuthentication;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Security;

/// <summary>
/// MQTT 5 enhanced authentication against MQTTnet's broker, which can challenge a client before its CONNACK (Mosquitto
/// 2.0 needs an auth plugin for it): the method and data go in CONNECT, each challenge is answered through the provider,
/// and a provider that cannot answer fails the attempt with a message that says so while the messages wait.
/// </summary>
public sealed class EnhancedAuthenticationTests : IAsyncLifetime
{
    private const string Method = "SF-CHALLENGE";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly TestDirectory _directory = new();
    private readonly int _port = LoopbackPort.Unused();
    private readonly List<string> _exchanges = [];
    private MqttServer _server = null!;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _received = new();

    public async Task InitializeAsync()
    {
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(_port).Build());

        // Two rounds: CONNECT carries "hello", the broker challenges twice and wants each nonce back reversed.
        _server.ValidatingConnectionAsync += async e =>
        {
            if (e.AuthenticationMethod != Method || Encoding.UTF8.GetString(e.AuthenticationData ?? []) != "hello")
            {
                e.ReasonCode = MqttConnectReasonCode.BadAuthenticationMethod;
                return;
            }

            foreach (var nonce in new[] { "nonce-1", "nonce-2" })
            {
                var answer = await e.ExchangeEnhancedAuthenticationAsync(new ExchangeEnhancedAuthenticationOptions { AuthenticationData = Encoding.UTF8.GetBytes(nonce) });
                var text = Encoding.UTF8.GetString(answer.AuthenticationData ?? []);
                lock (_exchanges)
                    _exchanges.Add($"{nonce} -> {text}");
                if (text != new string(nonce.Reverse().ToArray()))
                {
                    e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
                    return;
                }
            }

            e.ResponseAuthenticationData = Encoding.UTF8.GetBytes("welcome");
        };
        _server.InterceptingPublishAsync += e =>
        {
            _received.Enqueue(e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        await _server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.StopAsync();
        _server.Dispose();
        _directory.Dispose();
    }

    /// <summary>Answers each challenge with the nonce reversed.</summary>
    private sealed class ChallengeAnswering : IMqttCredentialsProvider
    {
        public ValueTask<MqttCredentials> GetCredentialsAsync(string server, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new MqttCredentials(null, null) { AuthenticationMethod = Method, AuthenticationData = Encoding.UTF8.GetBytes("hello") });

        public ValueTask<byte[]> ContinueAuthenticationAsync(string server, string method, byte[]? challenge, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Encoding.UTF8.GetBytes(new string(Encoding.UTF8.GetString(challenge ?? []).Reverse().ToArray())));
    }

    /// <summary>Implements only what it must: the interface's default refuses every challenge.</summary>
    private sealed class NoChallenges : IMqttCredentialsProvider
    {
        public ValueTask<MqttCredentials> GetCredentialsAsync(string server, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new MqttCredentials(null, null) { AuthenticationMethod = Method, AuthenticationData = Encoding.UTF8.GetBytes("hello") });
    }

    private StoreForwardOptions Options(IMqttCredentialsProvider provider) => new()
    {
        ClientId = "sf-enhanced",
        Host = "127.0.0.1",
        Port = _port,
        StorePath = _directory.File("outbox.db"),
        CredentialsProvider = provider,
        ReconnectInitialDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
    };

    [Fact]
    public async Task The_brokers_challenges_are_answered_through_the_provider_and_the_messages_go()
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(Options(new ChallengeAnswering()));
        for (var i = 0; i < 5; i++)
            await publisher.PublishAsync("sf/enhanced", Encoding.UTF8.GetBytes($"{i}"), MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.FlushAsync().WaitAsync(Patience);

        // QoS 1: a message goes twice only when a session ended before its PUBACK (a slow CI machine can end one).
        Assert.Equal(["0", "1", "2", "3", "4"], _received.Distinct().Order());
        Assert.True(_received.Count == 5 || publisher.ConnectAttempts > 1, $"{_received.Count} publishes reached the broker on one connection: a message was sent twice without a reconnect.");
        lock (_exchanges)
            Assert.Contains("nonce-2 -> 2-ecnon", _exchanges);
    }

    [Fact]
    public async Task A_provider_that_does_not_answer_challenges_fails_the_attempt_saying_so_and_the_messages_wait()
    {
        await using var publisher = await StoreForwardPublisher.StartAsync(Options(new NoChallenges()));
        await publisher.PublishAsync("sf/enhanced", "x"u8.ToArray(), MqttQualityOfServiceLevel.AtLeastOnce);

        await Eventually.TrueAsync(() => publisher.Status.LastConnectionError is not null, "a failed attempt", Patience);

        Assert.Contains($"does not answer challenges: implement IMqttCredentialsProvider.ContinueAuthenticationAsync", publisher.Status.LastConnectionError, StringComparison.Ordinal);
        Assert.Equal(1, publisher.Status.PendingMessages);
        Assert.Empty(_received);
    }
}
