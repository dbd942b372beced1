#!/usr/bin/env node
// Example device for @profichain/client (docs/client.md): sends one reading per second with a durable spool,
// prints acks and receipts. Build first (npx tsc -b), then:
//   node packages/client/examples/device.mjs --host 127.0.0.1 --port 7443 --fingerprint <64 hex> \
//     --network plant-1 --key device.key --spool ./spool [--count 10] [--data-key <64 hex>]
import { parseArgs } from 'node:util'
import { fromHex, readKeyFile, utf8 } from '@profichain/core'
import { createClient } from '@profichain/client'

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '7443' },
    fingerprint: { type: 'string' },
    network: { type: 'string' },
    key: { type: 'string' },
    spool: { type: 'string' },
    count: { type: 'string', default: '10' },
    'data-key': { type: 'string' },
  },
})
if (!a.fingerprint || !a.network || !a.key) {
  console.error('usage: device.mjs --fingerprint HEX --network ID --key device.key [--spool DIR] [--count N] [--data-key HEX]')
  process.exit(2)
}
const client = createClient({
  host: a.host,
  port: Number(a.port),
  fingerprint: a.fingerprint,
  network: a.network,
  deviceKey: await readKeyFile(a.key),
  spoolDir: a.spool,
  dataKey: a['data-key'] ? fromHex(a['data-key']) : undefined,
})
client.on('connected', (w) => console.log(JSON.stringify({ connected: w })))
client.on('failure', (e) => console.error(JSON.stringify({ failure: e.code, message: e.message })))
client.on('receipt', (r) => console.log(JSON.stringify({ receipt: r.txId, height: r.height, file: r.file })))
await client.start()
for (let i = 0; i < Number(a.count); i++) {
  const r = await client.submit(utf8(JSON.stringify({ reading: i, t: Date.now() })), { 'content-type': 'application/json' })
  console.log(JSON.stringify(r))
}
await client.drain({ receipts: true, timeoutMs: 120_000 })
await client.close()
