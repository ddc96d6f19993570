using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using MQTTnet.Protocol;

namespace StoreForward.LoadTest;

/// <summary>
/// The broker's ceiling: what Mosquitto takes from one connection when the client costs nothing. A minimal MQTT 5
/// publisher on a bare socket, no library and no persistence, keeps a fixed number of publishes in flight and makes one
/// write per turn: it reads whatever acknowledgements arrived, then sends in a single write the PUBRELs they call for and a
/// new PUBLISH for every freed slot. Every StoreForward rate is shown as a ratio to this.
/// </summary>
internal static class RawSocketCeiling
{
    private const byte Connack = 0x20;
    private const byte Puback = 0x40;
    private const byte Pubrec = 0x50;
    private const byte Pubcomp = 0x70;

    public static async Task<double> MeasureAsync(
        string host, int port, int count, int inFlight, MqttQualityOfServiceLevel qos, int payloadBytes, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(host, port, cancellationToken);
        var turns = new Turns(socket, qos, inFlight, payloadBytes);
        await turns.ConnectAsync("sf-bench-socket-" + Guid.NewGuid().ToString("N")[..8], cancellationToken);
        var clock = Stopwatch.StartNew();
        await turns.PublishAsync(count, cancellationToken);
        var elapsed = clock.Elapsed;
        await socket.SendAsync(new byte[] { 0xE0, 0x00 }, cancellationToken);
        return count / elapsed.TotalSeconds;
    }

    /// <summary>The publisher's state between turns: what is queued to write and what came in unparsed.</summary>
    private sealed class Turns(Socket socket, MqttQualityOfServiceLevel qos, int inFlight, int payloadBytes)
    {
        private static readonly byte[] Topic = Encoding.UTF8.GetBytes("bench/socket");
        private readonly byte[] _input = new byte[64 * 1024];
        private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
        private readonly byte[] _payload = new byte[payloadBytes];
        private int _inputStart;
        private int _inputEnd;
        private ushort _nextId;

        public async Task ConnectAsync(string clientId, CancellationToken cancellationToken)
        {
            var id = Encoding.UTF8.GetBytes(clientId);
            // Variable header: protocol name, level 5, clean start, keep alive 0, no properties; payload: the client id.
            byte[] body = [0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x05, 0x02, 0x00, 0x00, 0x00, (byte)(id.Length >> 8), (byte)id.Length, .. id];
            WritePacket(0x10, body);
            await FlushAsync(cancellationToken);
            var (type, reasonCode) = await ReadPacketAsync(cancellationToken);
            if (type != Connack || reasonCode != 0)
                throw new InvalidOperationException($"The broker refused the bare-socket client (packet 0x{type:X2}, reason {reasonCode}).");
        }

        public async Task PublishAsync(int count, CancellationToken cancellationToken)
        {
            int sent = 0, done = 0, outstanding = 0;
            while (done < count)
            {
                while (outstanding < inFlight && sent < count)
                {
                    WritePublish();
                    sent++;
                    outstanding++;
                }

                await FlushAsync(cancellationToken);

                // Take every packet that is already here; wait for the socket only when none is.
                await FillAsync(cancellationToken);
                while (TryTakePacket(out var type, out var packetId))
                {
                    if (type == Pubrec)
                    {
                        WritePacket(0x62, [(byte)(packetId >> 8), (byte)packetId]);
                        continue;
                    }

                    if (type != Puback && type != Pubcomp)
                        throw new InvalidOperationException($"Unexpected packet 0x{type:X2} from the broker.");
                    done++;
                    outstanding--;
                }
            }
        }

        private void WritePublish()
        {
            _nextId = (ushort)(_nextId == ushort.MaxValue ? 1 : _nextId + 1);
            var remaining = 2 + Topic.Length + 2 + 1 + _payload.Length;
            WriteHeader((byte)(0x30 | ((int)qos << 1)), remaining);
            _output.Write<byte>([0, (byte)Topic.Length]);
            _output.Write(Topic);
            _output.Write<byte>([(byte)(_nextId >> 8), (byte)_nextId, 0]); // the packet id, then no properties
            _output.Write(_payload);
        }

        private void WritePacket(byte first, ReadOnlySpan<byte> body)
        {
            WriteHeader(first, body.Length);
            _output.Write(body);
        }

        private void WriteHeader(byte first, int remaining)
        {
            Span<byte> header = stackalloc byte[5];
            header[0] = first;
            var length = 1;
            do
            {
                var digit = (byte)(remaining % 128);
                remaining /= 128;
                header[length++] = remaining > 0 ? (byte)(digit | 0x80) : digit;
            }
            while (remaining > 0);
            _output.Write(header[..length]);
        }

        private async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_output.WrittenCount == 0)
                return;
            await socket.SendAsync(_output.WrittenMemory, cancellationToken);
            _output.ResetWrittenCount();
        }

        private async Task<(byte Type, byte First)> ReadPacketAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                if (TryTakePacket(out var type, out var id))
                    return (type, (byte)id);
                await FillAsync(cancellationToken);
            }
        }

        private async Task FillAsync(CancellationToken cancellationToken)
        {
            // Move the unparsed tail to the front once per read, not once per packet.
            Buffer.BlockCopy(_input, _inputStart, _input, 0, _inputEnd - _inputStart);
            _inputEnd -= _inputStart;
            _inputStart = 0;
            var read = await socket.ReceiveAsync(_input.AsMemory(_inputEnd), cancellationToken);
            if (read == 0)
                throw new InvalidOperationException("The broker closed the bare-socket connection.");
            _inputEnd += read;
        }

        /// <summary>
        /// Takes one whole packet from the input: its type and its first two body bytes as a number (the packet id of an
        /// acknowledgement; for CONNACK, the reason code in the low byte).
        /// </summary>
        private bool TryTakePacket(out byte type, out int packetId)
        {
            type = 0;
            packetId = 0;
            int remaining = 0, shift = 0, at = _inputStart + 1;
            while (true)
            {
                if (at >= _inputEnd)
                    return false;
                var digit = _input[at++];
                remaining |= (digit & 0x7F) << shift;
                shift += 7;
                if ((digit & 0x80) == 0)
                    break;
            }

            if (at + remaining > _inputEnd)
                return false;
            type = (byte)(_input[_inputStart] & 0xF0);
            packetId = BinaryPrimitives.ReadUInt16BigEndian(_input.AsSpan(at, 2));
            _inputStart = at + remaining;
            return true;
        }
    }
}
