import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeFrameBody, encodeFrameBody, keyPairFromSeed, openTier2Tx, txId, utf8 } from '@profichain/core'
import { createRecord, postRecords } from '../src/browser.js'

let server: Server | undefined
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
  server = undefined
})

/** A stand-in for POST /v1/records: `answer` gets the decoded submit and returns status, type, body. */
async function serve(answer: (f: ReturnType<typeof decodeFrameBody>, auth: string | undefined) => [number, string, Uint8Array | string]): Promise<string> {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const [status, type, body] = answer(decodeFrameBody(new Uint8Array(Buffer.concat(chunks))), req.headers.authorization)
    res.writeHead(status, { 'content-type': type })
    res.end(body)
  })
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server?.address() as { port: number }).port}/`
}

const key = keyPairFromSeed(new Uint8Array(32).fill(3))

describe('postRecords (browser entry, fetch)', () => {
  it('sends a CBOR submit with the token and returns the per-tx ack; tier-2 records open with their key', async () => {
    let seen: unknown
    const url = await serve((f, auth) => {
      if (f.type !== 'submit') throw new Error('not a submit')
      seen = { auth, n: f.items.length }
      const results = f.items.map((it, i) => (it.ok ? { txId: txId(it.tx), status: i === 1 ? ('rejected' as const) : ('accepted' as const), code: i === 1 ? 'REPLAY' : '' } : { txId: new Uint8Array(32), status: 'rejected' as const, code: 'BAD_TX' }))
      return [200, 'application/cbor', encodeFrameBody({ type: 'ack', batchId: f.batchId, results })]
    })
    const a = createRecord({ deviceKey: key, network: 'n', seq: 0, payload: utf8('plain') })
    const b = createRecord({ deviceKey: key, network: 'n', seq: 1, payload: utf8('secret'), dataKey: new Uint8Array(32).fill(9), epoch: 1 })
    const acks = await postRecords({ url, token: 'tok' }, [a.tx, b.tx], 7)
    expect(seen).toEqual({ auth: 'Bearer tok', n: 2 })
    expect(acks.map((x) => [x.status, x.code])).toEqual([['accepted', ''], ['rejected', 'REPLAY']])
    expect(Buffer.from(openTier2Tx(b.recordKey as Uint8Array, b.tx)).toString()).toBe('secret')
  })

  it('turns an error frame or an HTTP error into ERR_SERVER with the code, a foreign ack into ERR_PROTOCOL', async () => {
    const rec = createRecord({ deviceKey: key, network: 'n', seq: 0, payload: utf8('x') })
    let mode = 0
    const url = await serve((f) => {
      if (mode === 0) return [413, 'application/cbor', encodeFrameBody({ type: 'error', code: 'FRAME_TOO_LARGE', message: 'too large' })]
      if (mode === 1) return [401, 'text/plain', 'a valid bearer token is required']
      return [200, 'application/cbor', encodeFrameBody({ type: 'ack', batchId: f.type === 'submit' ? f.batchId : 0, results: [{ txId: new Uint8Array(32).fill(1), status: 'accepted', code: '' }] })]
    })
    await expect(postRecords({ url }, [rec.tx])).rejects.toMatchObject({ code: 'ERR_SERVER', meta: { code: 'FRAME_TOO_LARGE' } })
    mode = 1
    await expect(postRecords({ url }, [rec.tx])).rejects.toMatchObject({ code: 'ERR_SERVER', meta: { code: 'HTTP_401' } })
    mode = 2
    await expect(postRecords({ url }, [rec.tx])).rejects.toMatchObject({ code: 'ERR_PROTOCOL' })
  })
})
