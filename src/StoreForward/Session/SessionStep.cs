using MQTTnet.Packets;
using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// What one turn of the session loop decided: the store changes to commit in one transaction, and the packets to send.
/// </summary>
/// <remarks>
/// Most changes may reach the disk after the packets go out: an acknowledged message that is still stored after a crash is
/// only sent once more (QoS 1) or released once more (QoS 2), and the packet id it would need is already durable. Four
/// changes must be durable first, and make <see cref="MustCommitBeforeSending"/> true:
/// <list type="bullet">
/// <item>the first send of a QoS 2 message: after a crash it must go out again with DUP=1, because Mosquitto takes a
/// PUBLISH with DUP=0 and a known id for a new message and would deliver it twice;</item>
/// <item>a recorded PUBREC: else a restart would PUBLISH a message the broker already owns;</item>
/// <item>the removal of a QoS 0 message: else a restart could send it twice;</item>
/// <item>a dead letter: so that the event reports what is on disk.</item>
/// </list>
/// Each turn has its own step, because a commit may still be pending while the next turn is decided.
/// </remarks>
internal sealed class SessionStep
{
    private readonly List<Change> _changes = [];
    private long _sentThrough;

    public List<MqttPacket> Packets { get; } = [];

    public List<DeadLetter> DeadLetters { get; } = [];

    public bool IsEmpty => _changes.Count == 0 && Packets.Count == 0 && _sentThrough == 0;

    public bool HasChanges => _changes.Count > 0 || _sentThrough > 0;

    public bool MustCommitBeforeSending { get; private set; }

    /// <summary>A first PUBLISH for <paramref name="message"/> is in this step's packets.</summary>
    public void Sent(OutboxMessage message)
    {
        _sentThrough = Math.Max(_sentThrough, message.Sequence);
        if (message.Qos == MQTTnet.Protocol.MqttQualityOfServiceLevel.ExactlyOnce)
            MustCommitBeforeSending = true;
    }

    public void Released(OutboxMessage message)
    {
        _changes.Add(new Change(ChangeKind.Released, message, null));
        MustCommitBeforeSending = true;
    }

    public void ForgetReleased(OutboxMessage message)
    {
        _changes.Add(new Change(ChangeKind.ForgetReleased, message, null));
        MustCommitBeforeSending = true;
    }

    /// <summary>How many of this step's removals are acknowledgements (PUBACK or PUBCOMP).</summary>
    public int Acknowledgements { get; private set; }

    /// <summary>The broker acknowledged the message.</summary>
    public void Acknowledged(OutboxMessage message)
    {
        _changes.Add(new Change(ChangeKind.Remove, message, null));
        Acknowledgements++;
    }

    /// <summary>A QoS 0 message is about to be sent once: at most once means it leaves the store first.</summary>
    public void RemoveBeforeSending(OutboxMessage message)
    {
        _changes.Add(new Change(ChangeKind.Remove, message, null));
        MustCommitBeforeSending = true;
    }

    public void DeadLetter(OutboxMessage message, DeadLetter deadLetter)
    {
        _changes.Add(new Change(ChangeKind.DeadLetter, message, deadLetter));
        DeadLetters.Add(deadLetter);
        MustCommitBeforeSending = true;
    }

    /// <summary>Applies the changes in the order they were decided; runs on the writer thread inside one transaction.</summary>
    public bool ApplyTo(OutboxStore store)
    {
        foreach (var (kind, message, deadLetter) in _changes)
        {
            switch (kind)
            {
                case ChangeKind.Released:
                    store.MarkReleased(message.Sequence);
                    break;
                case ChangeKind.ForgetReleased:
                    store.ClearReleased(message.Sequence);
                    break;
                case ChangeKind.Remove:
                    store.Remove(message);
                    break;
                case ChangeKind.DeadLetter:
                    store.MoveToDeadLetters(message, deadLetter!);
                    break;
            }
        }

        store.MarkSentThrough(_sentThrough);
        return true;
    }

    private enum ChangeKind
    {
        Released,
        ForgetReleased,
        Remove,
        DeadLetter,
    }

    private readonly record struct Change(ChangeKind Kind, OutboxMessage Message, DeadLetter? DeadLetter);
}
