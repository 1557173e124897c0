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

module.exports = { client, run }
