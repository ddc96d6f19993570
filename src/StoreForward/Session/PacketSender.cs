using System.Threading.Channels;
using MQTTnet.Packets;
using StoreForward.Transport;

namespace StoreForward.Session;

/// <summary>
/// A session's sender task: sends what the loop queued, through <see cref="OutgoingLanes"/>, so that what is ready in both
/// lanes leaves in one socket write while a lane whose head waits for a commit is held back. The loop queues and never
/// waits; a failed commit or send is reported back to it through <paramref name="failed"/>.
/// </summary>
/// <param name="link">The connection.</param>
/// <param name="ackClock">Told while packets wait for the disk, which the broker cannot be blamed for.</param>
/// <param name="receiveFailure">The receive side's error, if it saw the link break: usually the real cause of a failed send.</param>
/// <param name="failed">Reports the error that ends the session.</param>
internal sealed class PacketSender(IBrokerLink link, AckClock ackClock, Func<Exception?> receiveFailure, Action<Exception> failed)
{
    private readonly Channel<OutgoingPackets> _queued = Channel.CreateUnbounded<OutgoingPackets>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private volatile Exception? _failure;

    /// <summary>Why sending failed, or null.</summary>
    public Exception? Failure => _failure;

    /// <summary>Queues one turn's packets of one lane (the loop's thread only).</summary>
    public void Queue(OutgoingPackets packets) => _queued.Writer.TryWrite(packets);

    /// <summary>Nothing more will be queued: <see cref="RunAsync"/> returns once what it holds has left.</summary>
    public void Complete() => _queued.Writer.TryComplete();

    public async Task RunAsync(CancellationToken token)
    {
        var lanes = new OutgoingLanes();
        var ready = new List<MqttPacket>();
        Task<bool>? more = null;
        try
        {
            while (true)
            {
                while (_queued.Reader.TryRead(out var queued))
                    lanes.Enqueue(queued);

                var blocking = lanes.TakeReady(ready);
                ackClock.WaitingForDisk(blocking is not null);
                if (ready.Count > 0)
                {
                    await SendAsync(ready, token).ConfigureAwait(false);
                    ready.Clear();
                    continue;
                }

                // One wait on the channel at a time, kept across a wake-up by a landed commit.
                more ??= _queued.Reader.WaitToReadAsync(token).AsTask();
                if (blocking is not null)
                    await Task.WhenAny(blocking, more).ConfigureAwait(false);
                else
                    await more.ConfigureAwait(false);
                if (more.IsCompleted)
                {
                    if (!await more.ConfigureAwait(false))
                    {
                        // Nothing more will be queued; what the lanes hold leaves once its commits landed.
                        if (blocking is null)
                            return;
                        await blocking.WaitAsync(token).ConfigureAwait(false);
                        continue;
                    }

                    more = null;
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The session is ending.
        }
#pragma warning disable CA1031 // Reported to the loop, which ends the session with it.
        catch (Exception error)
#pragma warning restore CA1031
        {
            _failure = error;
            failed(error);
        }
    }

    private async Task SendAsync(IReadOnlyList<MqttPacket> packets, CancellationToken token)
    {
        try
        {
            await link.SendAsync(packets, token).ConfigureAwait(false);
        }
        catch (Exception e) when (!token.IsCancellationRequested)
        {
            // The receive side usually saw the real cause (the broker closed the link) just before the send failed.
            throw receiveFailure() ?? new LinkLostException($"Sending to the broker failed: {e.Message}", e);
        }
    }
}
