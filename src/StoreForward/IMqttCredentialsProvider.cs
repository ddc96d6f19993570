namespace StoreForward;

/// <summary>
/// Supplies the user name and password for each connection attempt, for brokers whose credentials expire (a JWT, a SAS
/// token, a password rotated by a vault). Set it as <see cref="StoreForwardOptions.CredentialsProvider"/>, or register it
/// in the host's container (see the hosting package).
/// </summary>
/// <remarks>
/// Called on the delivery engine's task before every connection attempt, the first one included, and again for every
/// server tried; never on a publishing thread. The connect timeout covers the call, and the cancellation token ends it
/// when the attempt times out or the publisher stops. An exception or a result that MQTT cannot send counts as a failed
/// attempt: it is logged with the provider's message (never with the credentials), the engine backs off and asks again,
/// and the messages wait in the outbox. Cache a token until shortly before it expires: a fresh one per call is not
/// needed.
/// </remarks>
public interface IMqttCredentialsProvider
{
    /// <summary>The credentials for a connection attempt to <paramref name="server"/>.</summary>
    /// <param name="server">The server about to be connected, as <c>mqtt://host:port</c> or <c>mqtts://host:port</c>.</param>
    /// <param name="cancellationToken">Ends the call when the attempt times out or the publisher stops.</param>
    /// <returns>The user name and password to send in CONNECT.</returns>
    ValueTask<MqttCredentials> GetCredentialsAsync(string server, CancellationToken cancellationToken);

    /// <summary>
    /// MQTT 5 enhanced authentication: the answer to the broker's challenge (AUTH, continue authentication) for the method
    /// the credentials named, for challenge-response methods such as SCRAM. Called as often as the broker challenges,
    /// before its CONNACK, within the connect timeout. The default implementation refuses, which fails the attempt with a
    /// message that names this method.
    /// </summary>
    /// <param name="server">The server being connected, as in <see cref="GetCredentialsAsync"/>.</param>
    /// <param name="method">The authentication method.</param>
    /// <param name="challenge">The broker's authentication data, or null.</param>
    /// <param name="cancellationToken">Ends the call when the attempt times out or the publisher stops.</param>
    /// <returns>The authentication data to answer with.</returns>
    ValueTask<byte[]> ContinueAuthenticationAsync(string server, string method, byte[]? challenge, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"The broker challenged the authentication method '{method}', and {GetType().Name} does not answer challenges: implement IMqttCredentialsProvider.ContinueAuthenticationAsync.");
}
