// The aedes MQTT 3.1.1 broker as the StoreForward tests run it (tests/StoreForward.Tests/Infrastructure/AedesBroker.cs):
//
//   node tests/aedes/broker.js [PORT]
//
// Listens on 127.0.0.1 only, on PORT (0 or none: the OS picks one), with aedes' default in-memory persistence: sessions,
// queued messages, retained values and the inbound QoS 2 state live only as long as this process.
//
// stdout, one line per event, fields separated by single spaces. A client id with white space or '%' in it is printed
// percent-encoded (an empty one as ""), the topic is always the last field (the rest of the line), payloads are base64
// ('-' when empty):
//
//   listening PORT                                  ready: accepting connections
//   client ID                                       a CONNECT arrived (not yet answered)
//   connack ID RETURNCODE SESSIONPRESENT            the CONNACK sent (SESSIONPRESENT 0/1)
//   publish ID QOS DUP MESSAGEID RETAIN PAYLOAD TOPIC
//                                                   every PUBLISH packet received from a client, before aedes decides
//                                                   anything (a QoS 2 resend it drops as a duplicate is here too);
//                                                   MESSAGEID is '-' for QoS 0
//   routed ID QOS MESSAGEID RETAIN PAYLOAD TOPIC    a client's message that aedes accepted and routes to subscribers:
//                                                   once per message, a QoS 2 resend of an id still awaiting PUBREL is
//                                                   not routed again
//   released ID MESSAGEID                           a PUBREL from the client completed a stored inbound QoS 2 message
//   forward ID QOS RETAIN PAYLOAD TOPIC             a message aedes is about to send to subscriber ID
//   ack ID MESSAGEID                                subscriber ID completed a delivery (PUBACK, or PUBCOMP for QoS 2);
//                                                   MESSAGEID '-' when aedes no longer had the message
//   subscribe ID QOS TOPIC                          one filter of a SUBSCRIBE (QOS 128: refused)
//   clientDisconnect ID                             the client is gone (DISCONNECT, lost link, taken over)
//   clientError ID MESSAGE | connectionError ID MESSAGE | keepaliveTimeout ID
//   error MESSAGE                                   the listener failed (e.g. EADDRINUSE); the process then exits with 2
//   stopping SIGNAL / stopped                       on SIGTERM or SIGINT; exit code 0
//
// Node writes to a pipe synchronously on Linux, so every line printed before a SIGKILL reaches the reader.

import net from 'node:net'
import { Aedes } from 'aedes'

const requestedPort = process.argv.length > 2 ? Number.parseInt(process.argv[2], 10) : 0
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.log(`error invalid port '${process.argv[2]}'`)
  process.exit(2)
}

const id = (client) => {
  const raw = client && client.id != null ? String(client.id) : '-'
  return /[\s%]/.test(raw) ? encodeURIComponent(raw) : raw === '' ? '""' : raw
}
const payload = (packet) => (packet.payload && packet.payload.length > 0 ? Buffer.from(packet.payload).toString('base64') : '-')
const flag = (value) => (value ? 1 : 0)
const messageId = (packet) => (packet.qos > 0 && packet.messageId != null ? packet.messageId : '-')
const oneLine = (text) => String(text).replace(/\s+/g, ' ')
const log = (line) => process.stdout.write(line + '\n')
const message = (err) => oneLine(err && err.message ? err.message : err)

const broker = await Aedes.createBroker({
  // No $SYS heartbeat traffic during a test (the default is one a minute).
  heartbeatInterval: 24 * 60 * 60 * 1000
})

// Every PUBLISH from a client passes here first, duplicates included. The default check ($SYS is reserved) is kept.
broker.authorizePublish = (client, packet, callback) => {
  if (client) {
    log(`publish ${id(client)} ${packet.qos} ${flag(packet.dup)} ${messageId(packet)} ${flag(packet.retain)} ${payload(packet)} ${packet.topic}`)
  }
  if (packet.topic.startsWith('$SYS/')) {
    return callback(new Error('$SYS/ topic is reserved'))
  }
  callback(null)
}

// Called for each delivery to a subscriber; returning the packet lets it through unchanged.
broker.authorizeForward = (client, packet) => {
  if (!packet.topic.startsWith('$SYS/')) {
    log(`forward ${id(client)} ${packet.qos} ${flag(packet.retain)} ${payload(packet)} ${packet.topic}`)
  }
  return packet
}

// The in-memory persistence says nothing when an inbound QoS 2 message completes: wrap the one call that marks it.
const persistence = broker.persistence
const incomingDelPacket = persistence.incomingDelPacket.bind(persistence)
persistence.incomingDelPacket = (client, packet, cb) => {
  log(`released ${id(client)} ${packet.messageId}`)
  return incomingDelPacket(client, packet, cb)
}

broker.on('client', (client) => log(`client ${id(client)}`))
broker.on('connackSent', (packet, client) => log(`connack ${id(client)} ${packet.returnCode} ${flag(packet.sessionPresent)}`))
broker.on('clientDisconnect', (client) => log(`clientDisconnect ${id(client)}`))
broker.on('clientError', (client, err) => log(`clientError ${id(client)} ${message(err)}`))
broker.on('connectionError', (client, err) => log(`connectionError ${id(client)} ${message(err)}`))
broker.on('keepaliveTimeout', (client) => log(`keepaliveTimeout ${id(client)}`))
broker.on('publish', (packet, client) => {
  if (client && !packet.topic.startsWith('$SYS/')) {
    log(`routed ${id(client)} ${packet.qos} ${messageId(packet)} ${flag(packet.retain)} ${payload(packet)} ${packet.topic}`)
  }
})
// aedes emits ack with no packet when the outgoing message was already gone from its store.
broker.on('ack', (packet, client) => log(`ack ${id(client)} ${packet && packet.messageId != null ? packet.messageId : '-'}`))
broker.on('subscribe', (subscriptions, client) => {
  for (const s of subscriptions) log(`subscribe ${id(client)} ${s.qos} ${s.topic}`)
})

const server = net.createServer(broker.handle)
server.on('error', (err) => {
  log(`error ${err.code ? err.code + ' ' : ''}${message(err)}`)
  process.exit(2)
})

let stopping = false
const stop = (signal) => {
  if (stopping) return
  stopping = true
  log(`stopping ${signal}`)
  // Stop accepting, then let aedes close every client connection; exit even if something hangs on.
  const force = setTimeout(() => {
    log('stopped (forced)')
    process.exit(0)
  }, 5000)
  force.unref()
  server.close()
  broker.close(() => {
    log('stopped')
    process.exit(0)
  })
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))

server.listen({ port: requestedPort, host: '127.0.0.1', exclusive: true }, () => {
  log(`listening ${server.address().port}`)
})
