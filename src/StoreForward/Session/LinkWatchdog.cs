using MQTTnet.Packets;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// Watches a session's link on a timer, every eighth of the keep-alive: sends PINGREQ after half of it in silence, and
/// declares the link dead when nothing came back for a whole keep-alive, or when the broker acknowledged nothing for
/// <see cref="StoreForwardOptions.AckTimeout"/>. Half-open TCP links never report an error by themselves, so a dead link
/// is ended by cancelling the session's link token, which aborts even a send stuck in the socket.
/// </summary>
internal sealed class LinkWatchdog(IBrokerLink link, TimeProvider time, TimeSpan keepAlive, TimeSpan ackTimeout, AckClock ackClock)
{
    private long _lastPingAt = time.GetTimestamp();
    private volatile Exception? _deadLink;

    /// <summary>Why the link was declared dead, or null.</summary>
    public Exception? DeadLink => _deadLink;

    /// <summary>Starts watching; <paramref name="linkEnd"/> is cancelled when the link is dead. Dispose the timer to stop.</summary>
    public ITimer Start(CancellationTokenSource linkEnd)
    {
        var tick = keepAlive / 8;
        return time.CreateTimer(_ => Check(linkEnd), null, tick, tick);
    }

    private void Check(CancellationTokenSource linkEnd)
    {
        var silence = link.SinceLastReceived;
        if (ackClock.HasExceeded(ackTimeout))
            _deadLink = new LinkLostException($"The broker acknowledged none of the in-flight messages for {ackTimeout.TotalSeconds:0.#} s (AckTimeout); reconnecting to resend them.");
        else if (silence >= keepAlive)
            _deadLink = new LinkLostException($"Nothing came from the broker for {silence.TotalSeconds:0.#} s (keep-alive {keepAlive.TotalSeconds:0.#} s); the link is considered dead.");

        if (_deadLink is not null)
        {
            try
            {
                linkEnd.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The session already ended.
            }

            return;
        }

        var half = keepAlive / 2;
        if ((silence >= half || link.SinceLastSent >= half) && time.GetElapsedTime(Interlocked.Read(ref _lastPingAt)) >= half)
        {
            Interlocked.Exchange(ref _lastPingAt, time.GetTimestamp());
            _ = PingAsync(linkEnd.Token);
        }
    }

    /// <summary>
    /// Sent from the timer, not through the sender: the sender may be waiting for a commit behind a long queue of
    /// publishes, and the keep-alive must not depend on the disk. MQTTnet serialises sends on the connection, and a PINGREQ
    /// written during a batch leaves with it.
    /// </summary>
    private async Task PingAsync(CancellationToken token)
    {
        try
        {
            await link.SendAsync(MqttPingReqPacket.Instance, token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A failed ping means a failing link, which the receive loop and the keep-alive report.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
