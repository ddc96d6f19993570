namespace StoreForward.Tests.Security;

/// <summary>A credentials provider that answers through <see cref="Answer"/> and records the server of every call.</summary>
internal sealed class TestCredentialsProvider(Func<string, int, MqttCredentials> answer) : IMqttCredentialsProvider
{
    private readonly List<string> _calls = [];

    /// <summary>Gives the credentials for a server and the number of the call (0 first); may throw.</summary>
    public Func<string, int, MqttCredentials> Answer { get; set; } = answer;

    public IReadOnlyList<string> Calls
    {
        get
        {
            lock (_calls)
                return [.. _calls];
        }
    }

    public ValueTask<MqttCredentials> GetCredentialsAsync(string server, CancellationToken cancellationToken)
    {
        int call;
        lock (_calls)
        {
            call = _calls.Count;
            _calls.Add(server);
        }

        return ValueTask.FromResult(Answer(server, call));
    }
}
