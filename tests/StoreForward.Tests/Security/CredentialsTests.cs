using System.Diagnostics;
using System.Text;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using StoreForward.Tests.Infrastructure;

namespace StoreForward.Tests.Security;

/// <summary>
/// User name and password against Mosquitto with a password file: a wrong password is refused clearly and retried with
/// backoff, the password shows up nowhere (log, status, store), and the messages wait for the right one.
/// </summary>
public sealed class CredentialsTests : SecurityTest, IDisposable
{
    private const string User = "gateway";
    private const string RightPassword = "Ri9ht-Pa55-word";
    private const string WrongPassword = "Wr0ng-Pa55-word";
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
