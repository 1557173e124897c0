'use strict'
// Registers kafkajs codecs for snappy, lz4 and zstd: kafkajs 2.2.4 has only gzip built in and
// takes the others as plug-ins in CompressionCodecs. All three are pure JavaScript (zstd is
// WebAssembly shipped inside the npm package), so `npm ci` compiles nothing:
//   snappy  kafkajs-snappy (snappyjs): writes raw snappy, reads raw and xerial-framed snappy
//   lz4     lz4js: LZ4 frames, the format of Kafka's magic-2 batches
//   zstd    zstd-codec: zstd built with Emscripten; frames with the content size on compress,
//           a streaming decompressor (frames with or without the content size) on decompress
// (kafkajs-lz4 and @kafkajs/zstd, the codecs kafkajs's docs name, need node-gyp builds of
// native code: lz4@0.6.5 and cppzst.)
const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const { ZstdCodec } = require('zstd-codec')

const toBuffer = bytes => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)

const LZ4Codec = () => ({
  async compress(encoder) {
    return toBuffer(lz4.compress(encoder.buffer))
  },
  async decompress(buffer) {
    return toBuffer(lz4.decompress(buffer))
  },
})

let zstdReady
const zstd = () => {
  if (!zstdReady) zstdReady = new Promise(resolve => ZstdCodec.run(z => resolve(z)))
  return zstdReady
}
const ZstdCodecForKafkajs = () => ({
  async compress(encoder) {
    const z = await zstd()
    const out = new z.Simple().compress(encoder.buffer)
    if (!out) throw new Error('zstd-codec: compress failed')
    return toBuffer(out)
  },
  async decompress(buffer) {
    const z = await zstd()
    const out = new z.Streaming().decompress(buffer)
    if (!out) throw new Error('zstd-codec: decompress failed')
    return toBuffer(out)
  },
})

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = LZ4Codec
CompressionCodecs[CompressionTypes.ZSTD] = ZstdCodecForKafkajs

const compressionTypes = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

module.exports = { compressionTypes }
