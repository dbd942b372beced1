import { blockHashHex, txIdHex } from '@profichain/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ApiServer, createApiServer } from '../src/index.js'
import { seedKey, TestChain, until } from './chain.js'

let chain: TestChain

beforeAll(async () => {
  chain = await TestChain.open()
})

afterAll(async () => {
  await chain?.close()
})

/** Open an SSE subscription and yield parsed `next` payloads. */
async function subscribe(url: string, query: string, signal?: AbortSignal) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query }),
    signal,
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buf = ''
  return {
    /** Next `event: next` data, or null when the stream ends. */
    async next(): Promise<any | null> {
      for (;;) {
        const end = buf.indexOf('\n\n')
        if (end >= 0) {
          const frame = buf.slice(0, end)
          buf = buf.slice(end + 2)
          const event = /^event: (.*)$/m.exec(frame)?.[1]
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (event === 'next' && data) return JSON.parse(data)
          if (event === 'complete') return null
          continue
        }
        const { value, done } = await reader.read()
        if (done) return null
        buf += decoder.decode(value, { stream: true })
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  }
}

describe('subscriptions over SSE', () => {
  let server: ApiServer
  let url: string

  beforeAll(async () => {
    server = createApiServer({ port: 0 }, chain.components())
    url = (await server.start()).url
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('delivers a new block emitted on the events emitter', async () => {
    const sub = await subscribe(url, 'subscription { newBlocks { height hash txCount txIds canonical } }')
    await until(() => chain.events.listenerCount('block') === 1, 'the subscription to listen')
    const tx = chain.tx(seedKey(2), 'sensor 1')
    const block = await chain.addBlock([tx])
    chain.events.emit('block', block)
    const msg = await sub.next()
    expect(msg.errors).toBeUndefined()
    expect(msg.data.newBlocks).toEqual({
      height: block.header.height,
      hash: blockHashHex(block.header),
      txCount: 1,
      txIds: [txIdHex(tx)],
      canonical: true,
    })
    await sub.cancel()
    await until(() => chain.events.listenerCount('block') === 0, 'the listener to go when the client leaves')
  })

  it('delivers committed txs with their details', async () => {
    const tx = chain.tx(seedKey(3), 'committed one')
    await chain.addBlock([tx])
    const sub = await subscribe(
      url,
      'subscription { committedTxs { txIds transactions { id height confirmations } } }',
    )
    await until(() => chain.events.listenerCount('committed') === 1, 'the subscription to listen')
    chain.events.emit('committed', { txIds: [txIdHex(tx)] })
    const msg = await sub.next()
    expect(msg.data.committedTxs).toEqual({
      txIds: [txIdHex(tx)],
      transactions: [{ id: txIdHex(tx), height: chain.tree.head().height, confirmations: 1 }],
    })
    await sub.cancel()
  })

  it('serves subscriptions over GET for EventSource-style clients', async () => {
    const q = encodeURIComponent('subscription { newBlocks { height } }')
    const res = await fetch(`${url}/graphql?query=${q}`, { headers: { accept: 'text/event-stream' } })
    expect(res.status).toBe(200)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    await until(() => chain.events.listenerCount('block') === 1, 'the subscription to listen')
    const block = await chain.addBlock([chain.tx(seedKey(4), 'via GET')])
    chain.events.emit('block', block)
    let text = ''
    while (!text.includes('event: next')) {
      const { value, done } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    expect(text).toContain(`"height":${block.header.height}`)
    await reader.cancel()
    await until(() => chain.events.listenerCount('block') === 0, 'the listener to go')
  })

  it('caps open streams and ends them all on stop', async () => {
    const s = createApiServer({ port: 0, maxSubscriptions: 2 }, chain.components())
    const u = (await s.start()).url
    const a = await subscribe(u, 'subscription { newBlocks { height } }')
    const b = await subscribe(u, 'subscription { newBlocks { height } }')
    const third = await fetch(`${u}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { newBlocks { height } }' }),
    })
    expect(third.status).toBe(503)
    await until(
      () => chain.events.listenerCount('block') === 2,
      `both subscriptions to listen (${chain.events.listenerCount('block')})`,
    )
    await s.stop()
    expect(await a.next()).toBeNull()
    expect(await b.next()).toBeNull()
    await until(() => chain.events.listenerCount('block') === 0, 'listeners to be removed on stop')
  })
})
