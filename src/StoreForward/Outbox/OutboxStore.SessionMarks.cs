namespace StoreForward.Outbox;

// The session's marks in the header: sent, released (PUBREC), resend attempts and the broker of the session.
internal sealed partial class OutboxStore
{
    /// <summary>Records that every message up to <paramref name="sequence"/> may have been sent.</summary>
    public void MarkSentThrough(long sequence)
    {
        if (sequence <= _staged.SentThrough)
            return;
        _staged.SentThrough = sequence;
        _dirty = true;
    }

    /// <summary>Records PUBREC for a QoS 2 message; must be durable before its PUBREL is sent.</summary>
    public void MarkReleased(long sequence)
    {
        _released.Add(sequence);
        _dirty = true;
    }

    /// <summary>Forgets a PUBREC: the broker lost the session, so the message must be published anew.</summary>
    public void ForgetReleased(long sequence)
    {
        _released.Remove(sequence);
        _dirty = true;
    }

    /// <summary>
    /// Forgets every recorded PUBREC: the session moves to a broker that never received those messages, so they must be
    /// published there again instead of released.
    /// </summary>
    public void ForgetAllReleased()
    {
        _released.Clear();
        _dirty = true;
    }

    /// <summary>Records on how many connections after the first an in-flight message has been resent.</summary>
    public void RecordAttempts(long sequence, int attempts)
    {
        _attempts[sequence] = attempts;
        _attemptsChanged = true;
        _dirty = true;
    }

    private void UndoAttempts()
    {
        if (_attemptsChanged)
            _attempts = new(_committedAttempts);
        _attemptsChanged = false;
    }

    /// <summary>Records that the delivery state now belongs to a session with <paramref name="server"/>.</summary>
    public void MarkSessionEstablished(string server)
    {
        _staged.SessionServer = server;
        _dirty = true;
    }
}
