using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace StoreForward.Transport;

/// <summary>
/// The credentials of one connection attempt: asked of the provider and checked before CONNECT, and, with MQTT 5 enhanced
/// authentication, the challenges (AUTH, continue authentication) the broker may send before its CONNACK, answered through
/// the provider. Every error names the provider, never a credential.
/// </summary>
internal static class ConnectAuthentication
{
    /// <summary>The provider's credentials for this attempt; a failing provider, or credentials MQTT cannot send, fail it.</summary>
    public static async Task<MqttCredentials> CredentialsAsync(ConnectionSettings settings, BrokerEndpoint endpoint, CancellationToken cancellationToken)
    {
        var name = NameOf(settings.Credentials);
        MqttCredentials? credentials;
        try
        {
            credentials = await settings.Credentials.GetCredentialsAsync(endpoint.ToString(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{name} failed for {endpoint}.", e);
        }

        if (credentials is null)
            throw new InvalidOperationException($"{name} returned no credentials (null) for {endpoint}.");
        if (CredentialRules.Problem(credentials, settings.ProtocolVersion) is var (field, problem))
            throw new InvalidOperationException($"{name} returned a{(field.StartsWith('A') ? "n" : "")} {field} that {problem}.");
        return credentials;
    }

    /// <summary>
    /// Answers the broker's challenges until it sends anything else, which is returned: its CONNACK, normally. A broker may
    /// challenge only a CONNECT that named an authentication method, and only with that method.
    /// </summary>
    public static async Task<MqttPacket> AnswerChallengesAsync(
        IBrokerLink link, MqttPacket answer, MqttCredentials credentials, ConnectionSettings settings, CancellationToken cancellationToken)
    {
        while (answer is MqttAuthPacket challenge)
        {
            var method = credentials.AuthenticationMethod
                ?? throw new MqttProtocolException($"The broker {link.Endpoint} sent AUTH although CONNECT named no authentication method.");
            if (challenge.ReasonCode != MqttAuthenticateReasonCode.ContinueAuthentication || challenge.AuthenticationMethod != method)
                throw new MqttProtocolException($"The broker {link.Endpoint} answered CONNECT with AUTH {challenge.ReasonCode} for the method '{challenge.AuthenticationMethod}' instead of continuing '{method}'.");

            byte[] response;
            try
            {
                response = await settings.Credentials.ContinueAuthenticationAsync(link.Endpoint.ToString(), method, challenge.AuthenticationData, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidOperationException($"{NameOf(settings.Credentials)} could not answer the broker {link.Endpoint}'s challenge for the authentication method '{method}'.", e);
            }

            await link.SendAsync(new MqttAuthPacket { ReasonCode = MqttAuthenticateReasonCode.ContinueAuthentication, AuthenticationMethod = method, AuthenticationData = response }, cancellationToken).ConfigureAwait(false);
            answer = await link.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        }

        return answer;
    }

    private static string NameOf(IMqttCredentialsProvider provider) =>
        provider is FixedCredentials ? "StoreForwardOptions.Username/Password" : $"The credentials provider {provider.GetType().Name}";
}
