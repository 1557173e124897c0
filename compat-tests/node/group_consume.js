'use strict'
// usage: node group_consume.js BOOTSTRAP GROUP TOPIC COUNT
// Joins GROUP, consumes TOPIC from the committed offsets (earliest if none) until COUNT
// messages arrived, committing each message's offset explicitly, then waits 1.5 s for stray
// re-deliveries and leaves. Prints {"messages": [[partition, offset, value], ...]}.
const { client, run } = require('./common')

const [bootstrap, group, topic, countArg] = process.argv.slice(2)
const count = Number(countArg)
if (!bootstrap || !group || !topic || !(count >= 0)) {
  process.stderr.write('usage: group_consume.js BOOTSTRAP GROUP TOPIC COUNT\n')
  process.exit(64)
}

run(async () => {
  const consumer = client(bootstrap).consumer({
    groupId: group,
    sessionTimeout: 10000,
    rebalanceTimeout: 20000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
  })
  const messages = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let reached
    const done = new Promise(resolve => { reached = resolve })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic: t, partition, message }) => {
        messages.push([partition, Number(message.offset), message.value.toString()])
        await consumer.commitOffsets([
          { topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() },
        ])
        if (messages.length >= count) reached()
      },
    })
    if (count > 0) await done
    await new Promise(resolve => setTimeout(resolve, 1500))
  } finally {
    await consumer.disconnect()
  }
  return { messages }
}, 80000)
