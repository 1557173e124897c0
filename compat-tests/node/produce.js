'use strict'
// usage: node produce.js BOOTSTRAP TOPIC ACKS(-1|1|0) COMPRESSION(none|gzip|snappy|lz4|zstd) COUNT [idempotent]
// Sends COUNT keyed messages with headers in batches of 50 and prints the RecordMetadata of
// every send: {"sends": [[{topicName, partition, errorCode, baseOffset, ...}], ...]}.
const { Partitioners } = require('kafkajs')
const { compressionTypes } = require('./codecs')
const { client, run } = require('./common')

const [bootstrap, topic, acksArg, compressionArg, countArg, mode] = process.argv.slice(2)
const acks = Number(acksArg)
const compression = Object.hasOwn(compressionTypes, compressionArg) ? compressionTypes[compressionArg] : undefined
const count = Number(countArg)
if (!bootstrap || !topic || Number.isNaN(acks) || compression === undefined || !(count > 0)) {
  process.stderr.write('usage: produce.js BOOTSTRAP TOPIC ACKS none|gzip|snappy|lz4|zstd COUNT [idempotent]\n')
  process.exit(64)
}

run(async () => {
  const producer = client(bootstrap).producer({
    allowAutoTopicCreation: true,
    idempotent: mode === 'idempotent',
    maxInFlightRequests: mode === 'idempotent' ? 1 : undefined,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  const sends = []
  try {
    for (let start = 0; start < count; start += 50) {
      const messages = []
      for (let i = start; i < Math.min(count, start + 50); i++) {
        messages.push({
          key: `k${i % 4}`,
          value: `kjs-${i}`,
          headers: { src: 'kafkajs', seq: String(i) },
        })
      }
      sends.push(await producer.send({ topic, acks, compression, timeout: 10000, messages }))
    }
  } finally {
    await producer.disconnect()
  }
  return { sends }
})
