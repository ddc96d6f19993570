namespace StoreForward.Session;

/// <summary>
/// MQTT packet ids, derived from sequences: a message's id is durable with the message, so a resend after a restart uses
/// the id the broker knows. There are 65,535 ids (1 to 65,535), so sequence <c>s</c> and <c>s + 65,535</c> share one;
/// a flight may start only when the previous owner of its id has left the store for good, and two messages in flight
/// never share an id.
/// </summary>
internal static class PacketIds
{
    /// <summary>How many ids MQTT has: 1 to 65,535.</summary>
    public const int Count = ushort.MaxValue;

    /// <summary>The packet id of the message with <paramref name="sequence"/>.</summary>
    public static ushort Of(long sequence) => (ushort)((sequence - 1) % Count + 1);

    /// <summary>
    /// Whether the id of <paramref name="sequence"/> is free of earlier owners: every sequence 65,535 or more below it has
    /// left the store, which holds nothing below <paramref name="oldestCommitted"/>.
    /// </summary>
    public static bool IsFree(long sequence, long oldestCommitted) => sequence - oldestCommitted < Count;

    /// <summary>The lowest id none of <paramref name="inUse"/> holds, for a packet outside the outbox; null when all are taken.</summary>
    public static ushort? FirstFree(IEnumerable<ushort> inUse)
    {
        var taken = inUse.ToHashSet();
        for (var id = 1; id <= Count; id++)
        {
            if (!taken.Contains((ushort)id))
                return (ushort)id;
        }

        return null;
    }
}
