'use strict'
// usage: node consume.js BOOTSTRAP GROUP TOPIC COUNT
// Reads TOPIC from the beginning with a kafkajs group consumer (GROUP, never committing) until
// COUNT messages arrived, waits 1.5 s for more, and prints them in arrival order:
// {"messages": [{partition, offset, key, value, headers, timestamp}, ...]} with keys, values and
// header values as UTF-8 strings (key and value null when absent). Batches compressed with
// snappy, lz4 or zstd are read through the codecs that ./codecs registers.
require('./codecs')
const { run, consumeInGroup } = require('./common')

const [bootstrap, group, topic, countArg] = process.argv.slice(2)
const count = Number(countArg)
if (!bootstrap || !group || !topic || !(count > 0)) {
  process.stderr.write('usage: consume.js BOOTSTRAP GROUP TOPIC COUNT\n')
  process.exit(64)
}

const str = b => (b === null || b === undefined ? null : b.toString('utf8'))

run(async () => {
  const messages = []
  await consumeInGroup(bootstrap, group, topic, count, async (_consumer, { partition, message }) => {
    const headers = {}
    for (const [k, v] of Object.entries(message.headers || {})) headers[k] = Array.isArray(v) ? v.map(str) : str(v)
    messages.push({
      partition,
      offset: Number(message.offset),
      key: str(message.key),
      value: str(message.value),
      headers,
      timestamp: message.timestamp,
    })
  })
  return { messages }
}, 80000)
