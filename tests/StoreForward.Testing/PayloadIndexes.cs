using System.Globalization;

namespace StoreForward.Tests.Infrastructure;

/// <summary>The test publishers' payloads are their index as text; this reads them back from what a subscriber received.</summary>
public static class PayloadIndexes
{
    public static List<int> On(IEnumerable<ReceivedMessage> messages, string topic = "sf/data") =>
        [.. messages.Where(m => m.Topic == topic).Select(m => int.Parse(m.PayloadText, CultureInfo.InvariantCulture))];
}
