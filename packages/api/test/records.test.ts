import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type AckEntry, decodeFrameBody, encodeCbor, type SubmitItem } from '@profichain/core'
import { afterEach, describe, expect, it } from 'vitest'
import { handleRecords, type RecordsSubmitter } from '../src/index.js'

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

/** POST /v1/records in front of a submitter that answers when told to. */
async function serve(submitter: RecordsSubmitter): Promise<string> {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string | Uint8Array, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, ...headers })
      res.end(body)
    }
    void handleRecords(req, res, submitter, send, () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(() => new Promise((r) => server.close(() => r())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/records`
}

const post = (url: string, body: Uint8Array) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: Buffer.from(body) })

describe('POST /v1/records handler', () => {
  it('answers 503 RATE_LIMITED beyond maxConcurrent, and serves again once a request finished', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => (release = r))
    const calls: SubmitItem[][] = []
    const url = await serve({
      maxBatch: 4,
      maxFrameBytes: 1024,
      maxConcurrent: 1,
      submit: async (items): Promise<AckEntry[]> => {
        calls.push(items)
        await gate
        return items.map(() => ({ txId: new Uint8Array(32), status: 'rejected', code: 'BAD_TX' }))
      },
    })
    const body = encodeCbor([1, 3, 5, ['junk']])
    const first = post(url, body)
    // The first one is inside submit (it waits on the gate) before the second arrives.
    for (let i = 0; calls.length === 0 && i < 500; i++) await new Promise((r) => setTimeout(r, 10))
    expect(calls).toHaveLength(1)
    const busy = await post(url, body)
    expect(busy.status).toBe(503)
    expect(decodeFrameBody(new Uint8Array(await busy.arrayBuffer()))).toMatchObject({ type: 'error', code: 'RATE_LIMITED' })
    release()
    const ok = await first
    expect(ok.status).toBe(200)
    expect(decodeFrameBody(new Uint8Array(await ok.arrayBuffer()))).toMatchObject({ type: 'ack', batchId: 5, results: [{ status: 'rejected', code: 'BAD_TX' }] })
    expect((await post(url, body)).status).toBe(200)
  })

  it('refuses a batch over maxBatch (400 BATCH_TOO_LARGE) and a frame that is not a submit (400 BAD_FRAME)', async () => {
    const url = await serve({ maxBatch: 1, maxFrameBytes: 1024, submit: async (items) => items.map(() => ({ txId: new Uint8Array(32), status: 'rejected', code: 'BAD_TX' })) })
    const big = await post(url, encodeCbor([1, 3, 1, [0, 0]]))
    expect(big.status).toBe(400)
    expect(decodeFrameBody(new Uint8Array(await big.arrayBuffer()))).toMatchObject({ code: 'BATCH_TOO_LARGE' })
    const notSubmit = await post(url, encodeCbor([1, 7, []]))
    expect(notSubmit.status).toBe(400)
    expect(decodeFrameBody(new Uint8Array(await notSubmit.arrayBuffer()))).toMatchObject({ code: 'BAD_FRAME' })
  })
})
