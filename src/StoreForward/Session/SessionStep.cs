using MQTTnet.Packets;
using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// What one turn of the session loop decided: the store changes to commit (in one transaction, one fsync) and the packets
/// to send once that commit is durable. Sending only after the commit is what lets a crash at any moment resume correctly.
/// </summary>
internal sealed class SessionStep
{
    private readonly List<(OutboxMessage Message, DeadLetter? DeadLetter, bool Remove)> _changes = [];

    public List<MqttPacket> Packets { get; } = [];

    public List<DeadLetter> DeadLetters { get; } = [];

    public bool IsEmpty => _changes.Count == 0 && Packets.Count == 0;

    public bool HasChanges => _changes.Count > 0;

    /// <summary>Persist the message's packet id and state.</summary>
    public void Save(OutboxMessage message) => _changes.Add((message, null, false));

    /// <summary>Delete the message: acknowledged, or QoS 0 about to be sent once.</summary>
    public void Remove(OutboxMessage message) => _changes.Add((message, null, true));

    /// <summary>Move the message to the dead letters.</summary>
    public void DeadLetter(OutboxMessage message, DeadLetter deadLetter)
    {
        _changes.Add((message, deadLetter, true));
        DeadLetters.Add(deadLetter);
    }

    /// <summary>Applies the changes in the order they were decided; runs on the writer thread inside one transaction.</summary>
    public bool ApplyTo(OutboxStore store)
    {
        foreach (var (message, deadLetter, remove) in _changes)
        {
            if (deadLetter is not null)
                store.MoveToDeadLetters(message, deadLetter);
            else if (remove)
                store.Remove(message);
            else
                store.SaveState(message);
        }

        return true;
    }

    public void Clear()
    {
        _changes.Clear();
        Packets.Clear();
        DeadLetters.Clear();
    }
}
