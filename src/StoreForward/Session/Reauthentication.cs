using Microsoft.Extensions.Logging;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Keeps a connection's credentials valid. When nine tenths of their time have passed (<see cref="CredentialRenewal"/>),
/// a link made with MQTT 5 enhanced authentication re-authenticates in band: the provider's next credentials for the same
/// method go to the broker in AUTH (re-authenticate), its challenges are answered as at connecting, and its AUTH
/// (success) starts the next period. Any other link, or any failure on the way (the provider fails or changes the method,
/// the broker does not answer within the ack timeout), renews by reconnecting: the session winds down and the engine
/// connects again with fresh credentials. A broker that refuses the new credentials sends DISCONNECT, which ends the
/// session as any refusal does.
/// </summary>
/// <remarks>
/// The timer and the provider's calls run off the session's loop; they only post the AUTH packets to send
/// (<paramref name="send"/>) or ask for the reconnect (<paramref name="reconnect"/>). The broker's AUTH answers reach
/// <see cref="Take"/> on the loop. One lock guards the little state they share.
/// </remarks>
internal sealed class Reauthentication(
    IBrokerLink link, IMqttCredentialsProvider provider, TimeProvider time, TimeSpan ackTimeout, ILogger logger,
    Action<MqttAuthPacket> send, Action reconnect)
{
    private readonly Lock _lock = new();
    private ITimer? _timer;

    // Cancelled when the session ends: nothing is sent or asked for after that.
    private CancellationToken _sessionEnd;

    // The credentials being introduced to the broker, from the provider's answer until the broker's AUTH (success).
    private MqttCredentials? _introducing;

    /// <summary>
    /// Starts watching the link's credentials until <paramref name="sessionEnd"/>; dispose what it returns when the
    /// session ends. The provider's calls may still finish after that: they then change nothing.
    /// </summary>
    public IDisposable Start(CancellationToken sessionEnd)
    {
        lock (_lock)
        {
            _sessionEnd = sessionEnd;
            _timer = time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            Arm(link.Credentials.ExpiresAt);
        }

        return new Stopping(this);
    }

    /// <summary>The broker's AUTH packet: a challenge to answer, the success that ends the round, or a protocol error.</summary>
    public Exception? Take(MqttAuthPacket auth)
    {
        MqttCredentials introducing;
        lock (_lock)
        {
            if (_introducing is null)
                return new MqttProtocolException($"The broker sent AUTH {auth.ReasonCode} although no re-authentication was under way.");
            introducing = _introducing;
            if (auth.ReasonCode == MqttAuthenticateReasonCode.Success)
            {
                _introducing = null;
                Arm(introducing.ExpiresAt);
                return null;
            }
        }

        var method = introducing.AuthenticationMethod!;
        if (auth.ReasonCode != MqttAuthenticateReasonCode.ContinueAuthentication || auth.AuthenticationMethod != method)
            return new MqttProtocolException($"The broker answered the re-authentication with AUTH {auth.ReasonCode} for the method '{auth.AuthenticationMethod}' instead of continuing '{method}'.");
        _ = AnswerChallengeAsync(method, auth.AuthenticationData);
        return null;
    }

    /// <summary>Sets the timer for credentials expiring at <paramref name="expiresAt"/>; under the lock (a stopped one is null).</summary>
    private void Arm(DateTimeOffset? expiresAt)
    {
        if (CredentialRenewal.Due(time.GetUtcNow(), expiresAt) is { } due)
            _timer?.Change(due, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        bool unanswered;
        lock (_lock)
            unanswered = _introducing is not null;
        var method = link.Credentials.AuthenticationMethod;
        if (unanswered || method is null || link.ProtocolVersion != MqttProtocolVersion.V500)
        {
            Reconnect(unanswered ? $"the broker did not answer the re-authentication within {ackTimeout} (AckTimeout)" : "the link has no enhanced authentication to renew in band");
            return;
        }

        _ = ReauthenticateAsync(method);
    }

    private async Task ReauthenticateAsync(string method)
    {
        MqttCredentials? next;
        try
        {
            next = await provider.GetCredentialsAsync(link.Endpoint.ToString(), _sessionEnd).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Reconnect($"the credentials provider failed: {e.Message}");
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (next?.AuthenticationMethod != method || CredentialRules.Problem(next, MqttProtocolVersion.V500) is not null)
        {
            Reconnect($"the credentials provider's new credentials are not for the method '{method}' or cannot be sent");
            return;
        }

        lock (_lock)
        {
            if (_timer is null)
                return;
            _introducing = next;
            _timer.Change(ackTimeout, Timeout.InfiniteTimeSpan);
        }

        Diagnostics.Log.Reauthenticating(logger, link.Endpoint, method);
        send(new MqttAuthPacket { ReasonCode = MqttAuthenticateReasonCode.ReAuthenticate, AuthenticationMethod = method, AuthenticationData = next.AuthenticationData });
    }

    private async Task AnswerChallengeAsync(string method, byte[]? challenge)
    {
        try
        {
            var response = await provider.ContinueAuthenticationAsync(link.Endpoint.ToString(), method, challenge, _sessionEnd).ConfigureAwait(false);
            send(new MqttAuthPacket { ReasonCode = MqttAuthenticateReasonCode.ContinueAuthentication, AuthenticationMethod = method, AuthenticationData = response });
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            Reconnect($"the credentials provider could not answer the broker's challenge: {e.Message}");
        }
    }

    private void Reconnect(string why)
    {
        if (_sessionEnd.IsCancellationRequested)
            return;
        var expiresAt = link.Credentials.ExpiresAt ?? time.GetUtcNow();
        Diagnostics.Log.RenewingCredentials(logger, link.Endpoint, expiresAt, why);
        reconnect();
    }

    /// <summary>Ends the watch: the timer goes, under the lock, so that no late provider answer re-arms it.</summary>
    private sealed class Stopping(Reauthentication reauthentication) : IDisposable
    {
        public void Dispose()
        {
            lock (reauthentication._lock)
            {
                reauthentication._timer?.Dispose();
                reauthentication._timer = null;
            }
        }
    }
}
