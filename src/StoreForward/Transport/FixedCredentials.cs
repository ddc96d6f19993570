namespace StoreForward.Transport;

/// <summary>The options' own <see cref="StoreForwardOptions.Username"/> and <see cref="StoreForwardOptions.Password"/>, the same for every attempt.</summary>
internal sealed class FixedCredentials(MqttCredentials credentials) : IMqttCredentialsProvider
{
    public ValueTask<MqttCredentials> GetCredentialsAsync(string server, CancellationToken cancellationToken) => ValueTask.FromResult(credentials);
}
