using System.Diagnostics;
using System.Text;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Security;

/// <summary>
/// User name and password against Mosquitto with a password file: a wrong password is refused clearly and retried with
/// backoff, the password shows up nowhere (log, status, store), and the messages wait for the right one; a credentials
/// provider is asked before every connection, so a password rotated during an outage is used on the next.
/// </summary>
public sealed class CredentialsTests : SecurityTest, IDisposable
{
    private const string User = "gateway";
    private const string RightPassword = "Ri9ht-Pa55-word";
    private const string WrongPassword = "Wr0ng-Pa55-word";
    private const string NewPassword = "N3w-Pa55-word-after-rotation";
    private readonly string _passwordFile;

    public CredentialsTests()
        : this(CreatePasswordFile())
    {
    }

    private CredentialsTests(string passwordFile)
        // Anonymous clients (the test's subscriber) stay allowed; a client that names a user must give its password.
        : base(new MosquittoSettings { ExtraConfig = [$"password_file {passwordFile}"] }) =>
        _passwordFile = passwordFile;

    public void Dispose() => File.Delete(_passwordFile);

    private static string CreatePasswordFile()
    {
        var path = Path.Combine(Path.GetTempPath(), "sf-passwd-" + Guid.NewGuid().ToString("N"));
        using var process = Process.Start(new ProcessStartInfo("mosquitto_passwd", ["-b", "-c", path, User, RightPassword]) { RedirectStandardError = true })!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, process.StandardError.ReadToEnd());
        return path;
    }

    private StoreForwardOptions WithPassword(string password, MqttProtocolVersion version)
    {
        var options = Options(version: version);
        options.Username = User;
        options.Password = password;
        return options;
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V500, "NotAuthorized (0x87), the broker does not let this client in: a wrong or missing user name or password")]
    [InlineData(MqttProtocolVersion.V311, "ConnectionRefusedNotAuthorized (5), the broker does not let this client in: a wrong or missing user name or password")]
    public async Task A_wrong_password_is_refused_clearly_with_backoff_and_appears_nowhere(MqttProtocolVersion version, string reason)
    {
        var refusal = await RefusedAsync(WithPassword(WrongPassword, version), MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.All(refusal.Errors, e => Assert.Contains($"refused the connection: {reason}", e, StringComparison.Ordinal));
        Assert.Contains(reason, refusal.LastConnectionError, StringComparison.Ordinal);
        Assert.DoesNotContain(WrongPassword, refusal.Everything, StringComparison.Ordinal);
        AssertNotInStore(WrongPassword);

        await AssertFixedDeliversAsync(WithPassword(RightPassword, version));
        AssertNotInStore(RightPassword);
    }

    [Fact]
    public async Task A_provider_is_asked_before_every_connection_and_a_password_rotated_during_an_outage_is_used_on_the_next()
    {
        var provider = new TestCredentialsProvider((_, _) => new MqttCredentials(User, RightPassword));
        var (publisher, before) = await DeliverTheFirstHalfAsync(provider);
        var callsBefore = provider.Calls.Count;

        // The outage: the password is rotated at the broker and in the vault the provider reads.
        await Broker.StopAsync();
        SetPassword(NewPassword);
        provider.Answer = (_, _) => new MqttCredentials(User, NewPassword);
        var during = await PublishManyAsync(publisher, Messages / 2, Messages / 2, MqttQualityOfServiceLevel.AtLeastOnce);
        await Broker.StartAgainAsync();
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [.. before, .. during], exactlyOnce: false);
        Assert.True(provider.Calls.Count > callsBefore, "the provider was not asked again after the outage");
        Assert.All(provider.Calls, server => Assert.Equal($"mqtt://127.0.0.1:{Broker.Port}", server));
        await publisher.DisposeAsync();

        // The rotation is real: the broker now refuses the old password.
        var refusal = await RefusedAsync(WithPassword(RightPassword, MqttProtocolVersion.V500), MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Contains("NotAuthorized", refusal.LastConnectionError, StringComparison.Ordinal);
        Assert.DoesNotContain(NewPassword, refusal.Everything, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadAnswers => new()
    {
        { "throws", "The credentials provider TestCredentialsProvider failed for mqtt://127.0.0.1:{0}. <- vault unreachable" },
        { "null", "The credentials provider TestCredentialsProvider returned no credentials (null) for mqtt://127.0.0.1:{0}." },
        { "bad user name", "The credentials provider TestCredentialsProvider returned a Username that contains U+0000 at position 4, which MQTT forbids." },
        { "password alone on 3.1.1", "The credentials provider TestCredentialsProvider returned a Password that needs a Username on MQTT 3.1.1, which cannot send a password alone." },
    };

    [Theory]
    [MemberData(nameof(BadAnswers))]
    public async Task A_provider_that_fails_counts_as_a_failed_attempt_named_in_the_status_and_the_messages_wait(string answer, string error)
    {
        var provider = new TestCredentialsProvider((_, _) => answer switch
        {
            "throws" => throw new InvalidOperationException("vault unreachable"),
            "null" => null!,
            "bad user name" => new MqttCredentials("gate\0way", RightPassword),
            _ => new MqttCredentials(null, RightPassword),
        });
        var options = Options(version: answer == "password alone on 3.1.1" ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500);
        options.CredentialsProvider = provider;

        var refusal = await RefusedAsync(options, MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.Equal(string.Format(System.Globalization.CultureInfo.InvariantCulture, error, Broker.Port), refusal.LastConnectionError);
        Assert.DoesNotContain(RightPassword, refusal.Everything, StringComparison.Ordinal);
        provider.Answer = (_, _) => new MqttCredentials(User, RightPassword);
        options.ProtocolVersion = MqttProtocolVersion.V500;
        options.LoggerFactory = null;
        await AssertFixedDeliversAsync(options);
    }

    [Fact]
    public async Task Credentials_that_expire_are_renewed_before_expiry_by_a_normal_reconnect_and_nothing_is_lost()
    {
        // The first tokens live three seconds; the one after them never expires, so exactly one renewal follows.
        var provider = new TestCredentialsProvider((_, _) => new MqttCredentials(User, RightPassword) { ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(3) });
        var (publisher, before) = await DeliverTheFirstHalfAsync(provider);
        var callsBefore = provider.Calls.Count;
        provider.Answer = (_, _) => new MqttCredentials(User, RightPassword);

        // A new store's first session clears the broker's with a clean connection, closed at once: one goodbye so far.
        var goodbyes = Broker.LogLinesContaining($"Client {ClientId} disconnected.").Count();

        await Eventually.TrueAsync(() => provider.Calls.Count > callsBefore && publisher.Status.IsConnected, "a renewed connection", Patience);
        var after = await PublishManyAsync(publisher, Messages / 2, Messages / 2, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);

        await AssertDeliveredAsync(0, [.. before, .. after], exactlyOnce: true);
        var connections = Broker.LogLinesContaining($"as {ClientId} (p5, c0,").Count();
        Assert.Equal(2, connections);

        // The renewal said goodbye (the broker drops the Will and keeps the session), and the session resumed.
        Assert.Equal(goodbyes + 1, Broker.LogLinesContaining($"Client {ClientId} disconnected.").Count());
        Assert.Equal(0, publisher.Status.SessionsLost);
    }

    /// <summary>A publisher whose credentials come from <paramref name="provider"/>, with the first half of the messages delivered.</summary>
    private async Task<(StoreForwardPublisher Publisher, PublishReceipt[] Delivered)> DeliverTheFirstHalfAsync(TestCredentialsProvider provider)
    {
        var options = Options();
        options.CredentialsProvider = provider;
        var publisher = await StartPublisherAsync(options);
        var delivered = await PublishManyAsync(publisher, 0, Messages / 2, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.FlushAsync().WaitAsync(Patience);
        return (publisher, delivered);
    }

    private void SetPassword(string password)
    {
        using var process = Process.Start(new ProcessStartInfo("mosquitto_passwd", ["-b", _passwordFile, User, password]) { RedirectStandardError = true })!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, process.StandardError.ReadToEnd());
    }

    /// <summary>The store's files, data and log, hold the password in no encoding a reader would try.</summary>
    private void AssertNotInStore(string password)
    {
        foreach (var file in new[] { StorePath, StoreForward.Outbox.OutboxStore.LogPathOf(StorePath) }.Where(File.Exists))
        {
            var bytes = File.ReadAllBytes(file);
            foreach (var encoded in new[] { Encoding.UTF8.GetBytes(password), Encoding.Unicode.GetBytes(password) })
                Assert.True(bytes.AsSpan().IndexOf(encoded) < 0, $"{file} holds the password");
        }
    }
}
