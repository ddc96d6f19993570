using MQTTnet.Packets;
using StoreForward.Outbox;

namespace StoreForward.Session;

/// <summary>
/// What one turn of the session loop decided: the store changes to commit in one transaction, and the packets to send in
/// two lanes, publishes and answers (PUBREL, and answers to inbound publishes). MQTT orders packets of a kind, never
/// across kinds, so a publish never has to wait behind a PUBREL that waits for the disk.
/// </summary>
/// <remarks>
/// Most changes may reach the disk after the packets go out: an acknowledged message that is still stored after a crash is
/// only sent once more (QoS 1) or released once more (QoS 2), and the packet id it would need is already durable. Some
/// must be durable first, and hold back the lane of the packet that depends on them:
/// <list type="bullet">
/// <item>publishes: the "sent" mark covering a QoS 2 message's first send, because after a crash it must go out again
/// with DUP=1 (Mosquitto takes a PUBLISH with DUP=0 and a known id for a new message and would deliver it twice). The
/// mark runs ahead of the sends (<see cref="SentMarkLead"/>), so in a steady drain it is already durable, or rides on an
/// earlier commit (<see cref="WaitForEarlierCommit"/>);</item>
/// <item>publishes: the removal of a QoS 0 message, or a restart could send it twice;</item>
/// <item>publishes: forgetting the PUBRECs of a session the broker lost, or a restart would PUBREL messages the broker no
/// longer has;</item>
/// <item>answers: a recorded PUBREC before its PUBREL, or a restart would PUBLISH a message the broker already owns.</item>
/// </list>
/// A dead letter holds back nothing; its event is raised once its commit landed. Each turn has its own SessionTurn, because a
/// commit may still be pending while the next turn is decided.
/// </remarks>
internal sealed class SessionTurn
{
    private readonly List<Change> _changes = [];
    private long _sentThrough;

    /// <summary>PUBLISH packets, first sends and resends, in sequence order.</summary>
    public List<MqttPacket> Publishes { get; } = [];

    /// <summary>PUBREL packets in the order of their PUBRECs, and answers to inbound publishes.</summary>
    public List<MqttPacket> Answers { get; } = [];

    public List<DeadLetter> DeadLetters { get; } = [];

    public bool IsEmpty => _changes.Count == 0 && Publishes.Count == 0 && Answers.Count == 0 && _sentThrough == 0;

    public bool HasChanges => _changes.Count > 0 || _sentThrough > 0;

    /// <summary>The highest sequence first sent in this turn, or 0.</summary>
    public long HighestFirstSent { get; private set; }

    /// <summary>Whether this turn moves the "sent" mark.</summary>
    public bool MovesSentMark => _sentThrough > 0;

    /// <summary>The publishes wait for this turn's commit.</summary>
    public bool PublishesWaitForCommit { get; private set; }

    /// <summary>The publishes wait for an earlier commit (one that moves the "sent" mark), unless they wait for this one.</summary>
    public Task<bool>? WaitForEarlierCommit { get; private set; }

    /// <summary>The answers wait for this turn's commit.</summary>
    public bool AnswersWaitForCommit { get; private set; }

    /// <summary>
    /// A first PUBLISH for <paramref name="message"/>. One sent at QoS 2 waits for the commit that records a "sent" mark covering
    /// it: this turn's when <paramref name="mark"/> does not cover it yet, an earlier one while that is still pending.
    /// </summary>
    public void Sent(OutboxMessage message, MqttPublishPacket publish, SentMarkLead mark)
    {
        HighestFirstSent = Math.Max(HighestFirstSent, message.Sequence);
        Publishes.Add(publish);
        if (publish.QualityOfServiceLevel != MQTTnet.Protocol.MqttQualityOfServiceLevel.ExactlyOnce)
            return;
        if (mark.IsBeyond(message.Sequence))
            PublishesWaitForCommit = true;
        else if (mark.PendingCovering(message.Sequence) is { } pending)
            WaitForEarlierCommit = pending;
    }

    /// <summary>Records that every message up to <paramref name="sequence"/> may have been sent.</summary>
    public void MarkSentThrough(long sequence) => _sentThrough = Math.Max(_sentThrough, sequence);

    public void Released(OutboxMessage message)
    {
        _changes.Add(new Change(ChangeKind.Released, message, null));
        AnswersWaitForCommit = true;
    }

    public void ForgetReleased(OutboxMessage message)
    {
        _changes.Add(new Change(ChangeKind.ForgetReleased, message, null));
        PublishesWaitForCommit = true;
    }

    /// <summary>How many of this turn's removals are acknowledgements (PUBACK or PUBCOMP).</summary>
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
        PublishesWaitForCommit = true;
    }

    /// <summary>An in-flight message is sent again on a new connection: its attempt count is kept in the store.</summary>
    public void RecordAttempts(Flight flight) => _changes.Add(new Change(ChangeKind.RecordAttempts, flight.Message, null, flight.Attempts));

    /// <summary>A message expired before it was sent: it leaves the store unsent, counted.</summary>
    public void Expired(OutboxMessage message) => _changes.Add(new Change(ChangeKind.Expired, message, null));

    public void DeadLetter(OutboxMessage message, DeadLetter deadLetter)
    {
        _changes.Add(new Change(ChangeKind.DeadLetter, message, deadLetter));
        DeadLetters.Add(deadLetter);
    }

    /// <summary>Applies the changes in the order they were decided; runs on the writer thread inside one transaction.</summary>
    public bool ApplyTo(OutboxStore store)
    {
        foreach (var (kind, message, deadLetter, attempts) in _changes)
        {
            switch (kind)
            {
                case ChangeKind.Released:
                    store.MarkReleased(message.Sequence);
                    break;
                case ChangeKind.ForgetReleased:
                    store.ForgetReleased(message.Sequence);
                    break;
                case ChangeKind.Remove:
                    store.Remove(message);
                    break;
                case ChangeKind.DeadLetter:
                    store.MoveToDeadLetters(message, deadLetter!);
                    break;
                case ChangeKind.Expired:
                    store.RemoveExpired(message);
                    break;
                case ChangeKind.RecordAttempts:
                    store.RecordAttempts(message.Sequence, attempts);
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
        Expired,
        RecordAttempts,
    }

    private readonly record struct Change(ChangeKind Kind, OutboxMessage Message, DeadLetter? DeadLetter, int Attempts = 0);
}
