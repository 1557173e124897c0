'use strict'
// Shared set-up for the kafkajs scripts: a client whose logs go to stderr, so that stdout
// carries only the JSON result that compat-tests/test_kafkajs.py asserts on.
const { Kafka, logLevel } = require('kafkajs')

function client(bootstrap) {
  return new Kafka({
    clientId: 'weir-compat-kafkajs',
    brokers: [bootstrap],
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, label, log }) => {
      process.stderr.write(`[kafkajs ${label}] ${namespace}: ${JSON.stringify(log)}\n`)
    },
  })
}

function errorJson(e) {
  return {
    name: e && e.name,
    type: e && e.type,
    code: e && e.code,
    message: e && e.message,
    errors: e && Array.isArray(e.errors) ? e.errors.map(errorJson) : undefined,
  }
}

// Runs main(), prints its result as one JSON line, exits 0; on an exception prints
// {"error": ...} and exits 1. A hard deadline keeps a hung client from hanging the test.
function run(main, deadlineMs = 60000) {
  const timer = setTimeout(() => {
    process.stdout.write(JSON.stringify({ error: { name: 'Deadline', message: `no result after ${deadlineMs} ms` } }) + '\n')
    process.exit(2)
  }, deadlineMs)
  main().then(
    result => {
      clearTimeout(timer)
      process.stdout.write(JSON.stringify(result) + '\n')
      process.exit(0)
    },
    e => {
      clearTimeout(timer)
      process.stdout.write(JSON.stringify({ error: errorJson(e) }) + '\n')
      process.exit(1)
    }
  )
}

// Joins GROUP with a kafkajs consumer that never auto-commits and reads TOPIC (from the
// committed offsets, or from the beginning when there are none), passing each message to
// handle(consumer, payload) until COUNT arrived; then waits 1.5 s for strays (re-deliveries the
// tests must see) and leaves the group.
async function consumeInGroup(bootstrap, group, topic, count, handle) {
  const consumer = client(bootstrap).consumer({
    groupId: group,
    sessionTimeout: 10000,
    rebalanceTimeout: 20000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let seen = 0
    let reached
    const done = new Promise(resolve => { reached = resolve })
    await consumer.run({
      autoCommit: false,
      eachMessage: async payload => {
        await handle(consumer, payload)
        seen += 1
        if (seen >= count) reached()
      },
    })
    if (count > 0) await done
    await new Promise(resolve => setTimeout(resolve, 1500))
  } finally {
    await consumer.disconnect()
  }
}

module.exports = { client, run, consumeInGroup }
