using Microsoft.Extensions.Logging;
using StoreForward.Reconnect;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// What the delivery engine runs with: the servers, failover, and the settings of the layers it drives. The root reads
/// them once from the options (<see cref="LayerSettings"/>), so nothing below the public API depends on the options type.
/// </summary>
/// <param name="Servers">The brokers in order of preference, parsed.</param>
/// <param name="ServersShareSessions">Whether the servers are one broker (a cluster) that keeps one session for all.</param>
/// <param name="FailbackInterval">How often an earlier server is probed while connected to a later one, or null for never.</param>
/// <param name="Connection">What each connection attempt is made with.</param>
/// <param name="Session">What each delivery session runs with.</param>
/// <param name="Reconnect">When to try again.</param>
/// <param name="Logger">Where the engine's events go.</param>
internal sealed record EngineSettings(
    IReadOnlyList<BrokerEndpoint> Servers,
    bool ServersShareSessions,
    TimeSpan? FailbackInterval,
    ConnectionSettings Connection,
    SessionSettings Session,
    ReconnectSettings Reconnect,
    ILogger Logger)
{
    /// <summary>The clock every layer shares.</summary>
    public TimeProvider Time => Connection.Time;
}
