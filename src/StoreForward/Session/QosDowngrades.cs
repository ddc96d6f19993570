using Microsoft.Extensions.Logging;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Messages delivered below the QoS they were published with on one connection: each is counted, and the first one is
/// logged, which is enough to tell the operator; a log line per message would flood.
/// </summary>
internal sealed class QosDowngrades(IBrokerLink link, DeliveryCounters counters, ILogger logger)
{
    private bool _logged;

    /// <summary>
    /// Counts one, and logs the first with <paramref name="brokerChoice"/> (what the broker did) or, when null, this side's
    /// downgrade to the broker's maximum.
    /// </summary>
    public void Report(string? brokerChoice)
    {
        counters.Downgrade();
        if (_logged)
            return;
        _logged = true;
        Diagnostics.Log.QosDowngraded(logger, link.Endpoint, brokerChoice
            ?? $"accepts QoS {(int)link.Limits.MaximumQos} at most; messages published above it are sent at QoS {(int)link.Limits.MaximumQos} (QosAboveMaximum = Downgrade), so they lose their published guarantee there");
    }
}
