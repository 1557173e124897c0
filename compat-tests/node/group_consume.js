'use strict'
// usage: node group_consume.js BOOTSTRAP GROUP TOPIC COUNT
// Joins GROUP, consumes TOPIC from the committed offsets (earliest if none) until COUNT
// messages arrived, committing each message's offset explicitly, then waits 1.5 s for stray
// re-deliveries and leaves. Prints {"messages": [[partition, offset, value], ...]}.
const { run, consumeInGroup } = require('./common')

const [bootstrap, group, topic, countArg] = process.argv.slice(2)
const count = Number(countArg)
if (!bootstrap || !group || !topic || !(count >= 0)) {
  process.stderr.write('usage: group_consume.js BOOTSTRAP GROUP TOPIC COUNT\n')
  process.exit(64)
}

run(async () => {
  const messages = []
  await consumeInGroup(bootstrap, group, topic, count, async (consumer, { topic: t, partition, message }) => {
    messages.push([partition, Number(message.offset), message.value.toString()])
    await consumer.commitOffsets([
      { topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() },
    ])
  })
  return { messages }
}, 80000)
