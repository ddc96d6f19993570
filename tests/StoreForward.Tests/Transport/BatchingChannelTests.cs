using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;
using StoreForward.Transport;

namespace StoreForward.Tests.Transport;

[Trait("Category", "Unit")]
public sealed class BatchingChannelTests
{
    [Fact]
    public async Task Writes_in_a_batch_leave_in_one_write_in_order()
    {
        var inner = new RecordingChannel();
        using var channel = new BatchingChannel(inner);

        channel.BeginBatch();
        await channel.WriteAsync(Bytes(1, 2), true, default);
        await channel.WriteAsync(Bytes(3), true, default);
        Assert.Empty(inner.Writes);
        await channel.FlushAsync(default);

        Assert.Equal([1, 2, 3], Assert.Single(inner.Writes));
    }

    [Fact]
    public async Task A_flush_cancelled_before_it_wrote_still_ends_the_batch_and_nothing_overtakes_the_buffer()
    {
        var inner = new RecordingChannel();
        using var channel = new BatchingChannel(inner);

        channel.BeginBatch();
        await channel.WriteAsync(Bytes(1), true, default);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => channel.FlushAsync(new CancellationToken(canceled: true)));
        await channel.WriteAsync(Bytes(2), true, default);

        Assert.Equal([[1], [2]], inner.Writes);
    }

    [Fact]
    public async Task Outside_a_batch_every_write_goes_straight_through()
    {
        var inner = new RecordingChannel();
        using var channel = new BatchingChannel(inner);

        await channel.WriteAsync(Bytes(1), true, default);
        await channel.WriteAsync(Bytes(2), true, default);

        Assert.Equal(2, inner.Writes.Count);
    }

    [Fact]
    public async Task A_batch_larger_than_the_buffer_is_written_in_pieces_and_a_large_packet_directly()
    {
        var inner = new RecordingChannel();
        using var channel = new BatchingChannel(inner);
        var half = new byte[BatchingChannel.MaxBufferedBytes / 2 + 1];
        var huge = new byte[BatchingChannel.MaxBufferedBytes + 1];

        channel.BeginBatch();
        await channel.WriteAsync(new ReadOnlySequence<byte>(half), true, default);
        await channel.WriteAsync(new ReadOnlySequence<byte>(half), true, default);
        await channel.WriteAsync(new ReadOnlySequence<byte>(huge), true, default);
        await channel.FlushAsync(default);

        Assert.Equal([half.Length, half.Length, huge.Length], inner.Writes.Select(w => w.Length));
        Assert.Equal(2 * half.Length + huge.Length, inner.Writes.Sum(w => w.Length));
    }

    private static ReadOnlySequence<byte> Bytes(params byte[] bytes) => new(bytes);

    private sealed class RecordingChannel : IMqttChannel
    {
        public List<byte[]> Writes { get; } = [];

        public X509Certificate2 ClientCertificate => null!;

        public EndPoint RemoteEndPoint => null!;

        public EndPoint LocalEndPoint => null!;

        public bool IsSecureConnection => false;

        public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task DisconnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(0);

        public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
        {
            Writes.Add(buffer.ToArray());
            return Task.CompletedTask;
        }

        public void Dispose()
        {
        }
    }
}
