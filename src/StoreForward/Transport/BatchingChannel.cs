using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;

namespace StoreForward.Transport;

/// <summary>
/// Wraps MQTTnet's socket channel so that the packets of one session turn leave in one write. MQTTnet writes every packet
/// on its own (a PUBLISH even in two writes: header, then payload), and at a few thousand packets a second those system
/// calls and the broker's wake-ups per TCP segment cost more than the packets themselves.
/// </summary>
/// <remarks>
/// Between <see cref="BeginBatch"/> and <see cref="FlushAsync"/> writes are collected; outside a batch they go straight
/// through. A PINGREQ written by the keep-alive timer during a batch leaves with it. The buffer never holds more than
/// <see cref="MaxBufferedBytes"/>: a larger batch is written in pieces, and a larger packet goes straight through.
/// </remarks>
internal sealed class BatchingChannel(IMqttChannel inner) : IMqttChannel
{
    internal const int MaxBufferedBytes = 64 * 1024;

    private readonly SemaphoreSlim _gate = new(1, 1);
    // Grows with the batches (to at most MaxBufferedBytes and a packet): a gateway with a thousand publishers that send a
    // message now and then must not hold 64 KiB for each.
    private readonly ArrayBufferWriter<byte> _buffer = new();
    private volatile bool _batching;

    public X509Certificate2 ClientCertificate => inner.ClientCertificate;

    public EndPoint RemoteEndPoint => inner.RemoteEndPoint;

    public EndPoint LocalEndPoint => inner.LocalEndPoint;

    public bool IsSecureConnection => inner.IsSecureConnection;

    public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);

    public Task DisconnectAsync(CancellationToken cancellationToken) => inner.DisconnectAsync(cancellationToken);

    public Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        inner.ReadAsync(buffer, offset, count, cancellationToken);

    /// <summary>Collects writes until <see cref="FlushAsync"/>. Only one batch at a time: the session's sender.</summary>
    public void BeginBatch() => _batching = true;

    /// <summary>Ends the batch and writes what it collected.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        // Ended first, so that it ends even when the wait below is cancelled: a later write then goes straight through,
        // after what is buffered.
        _batching = false;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteBufferedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_batching)
            {
                await WriteBufferedAsync(cancellationToken).ConfigureAwait(false);
                await inner.WriteAsync(buffer, isEndOfPacket, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (_buffer.WrittenCount + buffer.Length > MaxBufferedBytes)
                await WriteBufferedAsync(cancellationToken).ConfigureAwait(false);
            if (buffer.Length > MaxBufferedBytes)
            {
                await inner.WriteAsync(buffer, isEndOfPacket, cancellationToken).ConfigureAwait(false);
                return;
            }

            buffer.CopyTo(_buffer.GetSpan((int)buffer.Length));
            _buffer.Advance((int)buffer.Length);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task WriteBufferedAsync(CancellationToken cancellationToken)
    {
        if (_buffer.WrittenCount == 0)
            return;
        try
        {
            await inner.WriteAsync(new ReadOnlySequence<byte>(_buffer.WrittenMemory), isEndOfPacket: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Sent or not, these bytes are done with: a failed write ends the connection.
            _buffer.ResetWrittenCount();
        }
    }

    public void Dispose()
    {
        inner.Dispose();
        _gate.Dispose();
    }
}
