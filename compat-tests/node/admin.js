'use strict'
// usage: node admin.js lifecycle BOOTSTRAP TOPIC   create/list/metadata/offsets/delete a topic
//        node admin.js offsets BOOTSTRAP TOPIC     fetchTopicOffsets of an existing topic
// Prints one JSON object with the result of every step.
const { Partitioners } = require('kafkajs')
const { client, run } = require('./common')

const [mode, bootstrap, topic] = process.argv.slice(2)
if (!['lifecycle', 'offsets'].includes(mode) || !bootstrap || !topic) {
  process.stderr.write('usage: admin.js lifecycle|offsets BOOTSTRAP TOPIC\n')
  process.exit(64)
}

async function waitFor(pred, ms) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await pred()
    if (v || Date.now() > deadline) return v
    await new Promise(r => setTimeout(r, 200))
  }
}

run(async () => {
  const kafka = client(bootstrap)
  const admin = kafka.admin()
  await admin.connect()
  const out = {}
  try {
    if (mode === 'offsets') {
      out.offsets = await admin.fetchTopicOffsets(topic)
      return out
    }
    const spec = {
      topic,
      numPartitions: 3,
      replicationFactor: 1,
      configEntries: [{ name: 'retention.ms', value: '3600000' }],
    }
    out.created = await admin.createTopics({ topics: [spec], waitForLeaders: true, timeout: 10000 })
    out.createdAgain = await admin.createTopics({ topics: [spec], waitForLeaders: false, timeout: 10000 })
    out.listed = (await admin.listTopics()).includes(topic)
    out.metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    out.cluster = await admin.describeCluster()

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    try {
      out.produced = await producer.send({
        topic,
        acks: -1,
        messages: [0, 1, 2, 3, 4].map(i => ({ partition: 1, value: `v${i}` })),
      })
    } finally {
      await producer.disconnect()
    }
    out.offsets = await admin.fetchTopicOffsets(topic)

    await admin.deleteTopics({ topics: [topic], timeout: 10000 })
    out.goneAfterDelete = await waitFor(async () => !(await admin.listTopics()).includes(topic), 10000)
  } finally {
    await admin.disconnect()
  }
  return out
})
