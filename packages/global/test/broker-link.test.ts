// The partner link through the embedded aedes broker over real sockets: TCP, TLS, WSS; what the broker sees;
// refusals; a broker restart in the middle of a request.
import { randomBytes } from 'node:crypto'
import { equalBytes, generateKeyPair, toBase64, toHex, utf8 } from '@profichain/core'
import { connect, type MqttClient } from 'mqtt'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Broker,
  BROKER_TOPIC_PREFIX,
  BrokerError,
  createBroker,
  createBrokerLink,
  decodeEnvelope,
  encodeEnvelope,
  generateHpkeKeyPair,
  signEnvelope,
} from '../src/index.js'
import { asPartner, exchange, freePort, party, rejected, selfSignedCert, startLink, until, withDeadline } from './broker-helpers.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanup.length) await (cleanup.pop() as () => Promise<void>)().catch(() => {})
})

async function broker(init: Parameters<typeof createBroker>[0]): Promise<Broker> {
  const b = createBroker({ host: '127.0.0.1', ...init }, { registry: new Registry() })
  await b.start()
  cleanup.push(() => b.stop())
  return b
}

async function pair(url: string, extra: Parameters<typeof startLink>[3] = {}) {
  const a = party('acme.example/plant-1')
  const b = party('globex.example/line-2')
  const la = await startLink(url, a, [asPartner(b)], extra)
  cleanup.push(() => la.link.stop())
  const lb = await startLink(url, b, [asPartner(a)], extra)
  cleanup.push(() => lb.link.stop())
  return { a, b, la, lb }
}

/** A raw MQTT client (no envelope logic) connected to `url`. */
async function rawClient(url: string, opts: { ca?: string } = {}): Promise<MqttClient> {
  const c = connect(url, { protocolVersion: 4, reconnectPeriod: 0, ...opts })
  cleanup.push(() => c.endAsync(true))
  await withDeadline(new Promise<void>((resolve, reject) => c.once('connect', () => resolve()).once('error', reject)), 10_000, 'raw client connects')
  return c
}

describe('broker link through aedes', () => {
  it('request/response and one-way send over plain TCP; a subscriber on # sees no plaintext', async () => {
    const b = await broker({ port: 0 })
    const url = b.urls.find((u) => u.startsWith('mqtt://')) as string
    const snoop = await rawClient(url)
    const seenByBroker: Array<{ topic: string; payload: Buffer }> = []
    snoop.on('message', (topic, payload) => seenByBroker.push({ topic, payload: Buffer.from(payload) }))
    await snoop.subscribeAsync('#', { qos: 1 })

    const { a, b: bp, la, lb } = await pair(url)
    const secret = new Uint8Array(randomBytes(64))
    lb.link.handle('secret/1', async (_f, body) => body) // echoes the secret back: both directions are looked at
    const got = await la.link.request(bp.network, 'secret/1', secret)
    expect(got).toEqual(secret)
    await exchange(la.link, lb.link, a.network, bp.network)

    await until(() => seenByBroker.length >= 2, 10_000, 'the snooper saw the request and its reply')
    const all = Buffer.concat(seenByBroker.map((m) => m.payload))
    const text = all.toString('latin1')
    expect(all.indexOf(Buffer.from(secret))).toBe(-1)
    expect(all.indexOf(Buffer.from(secret.subarray(0, 16)))).toBe(-1)
    expect(text.toLowerCase()).not.toContain(toHex(secret).slice(0, 32))
    expect(text).not.toContain(toBase64(secret).slice(0, 24))
    expect(text).not.toContain(Buffer.from(secret).toString('base64url').slice(0, 24))
    expect(text).not.toContain('secret/1') // the message type is encrypted too
    expect(text).not.toContain('one-way')
    for (const m of seenByBroker) expect(m.topic.startsWith(BROKER_TOPIC_PREFIX)).toBe(true)
  })

  it('works over TLS (mqtts) and WebSocket over TLS (wss) with a self-signed certificate given as ca', async () => {
    const { key, cert } = await selfSignedCert()
    const b = await broker({ port: null, tls: { key, cert, port: 0 }, wss: { key, cert, port: 0 }, ws: { port: 0 } })
    expect(b.urls.map((u) => u.split(':')[0]).sort()).toEqual(['mqtts', 'ws', 'wss'])
    for (const scheme of ['mqtts', 'wss']) {
      const url = b.urls.find((u) => u.startsWith(`${scheme}://`)) as string
      const { a, b: bp, la, lb } = await pair(url, { ca: cert })
      await exchange(la.link, lb.link, a.network, bp.network)
    }
    // without the certificate as ca the link does not connect (the system CAs do not know it): it says why
    const url = b.urls.find((u) => u.startsWith('mqtts://')) as string
    const a = party('a')
    const link = createBrokerLink({
      url,
      clientId: 'no-ca',
      self: { network: a.network, signingKey: a.signingKey, hpkeKeyPair: a.hpke },
      partners: () => [],
    })
    cleanup.push(() => link.stop())
    const error = new Promise<Error>((resolve) => link.once('error', resolve))
    await link.start()
    expect((await withDeadline(error, 10_000, 'TLS error reported')).message).toMatch(/self.signed|certificate/i)
    expect(link.connected).toBe(false)
  })

  it('refuses and counts forged signatures, unknown signers, wrong recipient keys, replays and oversized messages', async () => {
    const bk = await broker({ port: 0 })
    const url = bk.urls[0] as string
    const { a, b, la, lb } = await pair(url, { maxMessageBytes: 4096, requestTimeoutMs: 5000 })
    let effects = 0
    lb.link.handle('count/1', async () => {
      effects++
      return utf8(`n=${effects}`)
    })
    const raw = await rawClient(url)
    const captured: Buffer[] = []
    raw.on('message', (_t, p) => captured.push(Buffer.from(p)))
    await raw.subscribeAsync(BROKER_TOPIC_PREFIX + b.network, { qos: 1 })
    expect(await la.link.request(b.network, 'count/1', utf8('x'))).toEqual(utf8('n=1'))
    await until(() => captured.length >= 1, 10_000, 'the request was captured')
    const original = new Uint8Array(captured[0] as Buffer)
    const e = decodeEnvelope(original, 4096)
    const topicB = BROKER_TOPIC_PREFIX + b.network

    // replay of a recent request: answered from memory, the handler does not run again
    const replies = captured.length
    await raw.publishAsync(topicB, Buffer.from(original), { qos: 1 })
    const rawA = await rawClient(url)
    const toA: Buffer[] = []
    rawA.on('message', (_t, p) => toA.push(Buffer.from(p)))
    await rawA.subscribeAsync(BROKER_TOPIC_PREFIX + a.network, { qos: 1 })
    await raw.publishAsync(topicB, Buffer.from(original), { qos: 1 })
    await until(() => toA.length >= 1, 10_000, 'the cached reply is sent again')
    expect(captured.length).toBeGreaterThan(replies)
    expect(effects).toBe(1)

    // replay of an old request (sentAt beyond what B remembers), re-signed by A's real key: stale
    const { bytes: old } = signEnvelope({ ...e, msgId: new Uint8Array(randomBytes(16)), sentAt: Date.now() - 3_600_000 }, a.signingKey.seed)
    await raw.publishAsync(topicB, Buffer.from(old), { qos: 1 })
    await until(async () => (await rejected(lb.registry, 'stale')) === 1, 10_000, 'stale counted')

    // forged: one byte of the ciphertext changed, signature left as it was
    const forged = encodeEnvelope({ ...e, ciphertext: Uint8Array.from(e.ciphertext, (x, i) => (i === 0 ? x ^ 1 : x)) })
    await raw.publishAsync(topicB, Buffer.from(forged), { qos: 1 })
    await until(async () => (await rejected(lb.registry, 'signature')) === 1, 10_000, 'forged signature counted')

    // signed by a key that is not one of A's nodes
    const mallory = generateKeyPair()
    const { bytes: bySomeoneElse } = signEnvelope({ ...e, senderSigningKey: mallory.publicKey }, mallory.seed)
    await raw.publishAsync(topicB, Buffer.from(bySomeoneElse), { qos: 1 })
    await until(async () => (await rejected(lb.registry, 'signer')) === 1, 10_000, 'unknown signer counted')

    // addressed to another network (a replay onto B's topic of an envelope for C)
    const { bytes: forC } = signEnvelope({ ...e, recipientNetwork: 'c' }, a.signingKey.seed)
    await raw.publishAsync(topicB, Buffer.from(forC), { qos: 1 })
    await until(async () => (await rejected(lb.registry, 'recipient')) === 1, 10_000, 'wrong recipient counted')

    // an answer to nothing A asked
    const { bytes: strayReply } = signEnvelope(
      { ...e, kind: 'reply', inReplyTo: new Uint8Array(16), senderNetwork: b.network, recipientNetwork: a.network, senderSigningKey: b.signingKey.publicKey },
      b.signingKey.seed,
    )
    await raw.publishAsync(BROKER_TOPIC_PREFIX + a.network, Buffer.from(strayReply), { qos: 1 })
    await until(async () => (await rejected(la.registry, 'unexpected')) === 1, 10_000, 'stray reply counted')

    // oversized, and garbage
    await raw.publishAsync(topicB, Buffer.alloc(5000, 7), { qos: 1 })
    await raw.publishAsync(topicB, Buffer.from('hello'), { qos: 1 })
    await until(async () => (await rejected(lb.registry, 'size')) === 1, 10_000, 'oversized counted')
    await until(async () => (await rejected(lb.registry, 'malformed')) === 1, 10_000, 'garbage counted')
    await expect(la.link.request(b.network, 'count/1', new Uint8Array(5000))).rejects.toMatchObject({ code: 'ERR_BROKER_LIMIT' })

    // A encrypts to a wrong key for B: B cannot open it, A's request times out
    const wrong = await startLink(url, { ...a, signingKey: a.signingKey }, [{ ...asPartner(b), hpkePublicKey: generateHpkeKeyPair().publicKey }], {
      clientId: 'wrong-key-client',
      requestTimeoutMs: 1500,
    })
    cleanup.push(() => wrong.link.stop())
    const err = await wrong.link.request(b.network, 'count/1', utf8('y')).catch((x: unknown) => x)
    expect(err).toBeInstanceOf(BrokerError)
    expect((err as BrokerError).code).toBe('ERR_BROKER_TIMEOUT')
    expect(await rejected(lb.registry, 'decrypt')).toBeGreaterThanOrEqual(1)

    // a type B does not handle, and a failing handler: typed remote errors
    await expect(la.link.request(b.network, 'nope/1', utf8(''))).rejects.toMatchObject({ code: 'ERR_BROKER_REMOTE', meta: { remoteCode: 'NO_HANDLER' } })
    lb.link.handle('fail/1', async () => {
      throw new Error('boom')
    })
    await expect(la.link.request(b.network, 'fail/1', utf8(''))).rejects.toMatchObject({ code: 'ERR_BROKER_REMOTE', meta: { remoteCode: 'HANDLER_FAILED' } })
    await expect(la.link.request('stranger', 'count/1', utf8(''))).rejects.toMatchObject({ code: 'ERR_BROKER_UNKNOWN_PARTNER' })
    expect(effects).toBe(1)
  })

  it('a broker restart in the middle of a request loses nothing and runs the handler once', async () => {
    const port = await freePort()
    let bk = createBroker({ host: '127.0.0.1', port }, {})
    await bk.start()
    cleanup.push(() => bk.stop())
    const url = `mqtt://127.0.0.1:${port}`
    const { b, la, lb } = await pair(url)
    const effects = new Map<string, number>()
    let restarted = false
    lb.link.handle('work/1', async (_from, body) => {
      const k = toHex(body)
      effects.set(k, (effects.get(k) ?? 0) + 1)
      if (!restarted) {
        restarted = true
        // the broker goes away while B works on the request, and comes back empty (in-memory)
        await bk.stop()
        bk = createBroker({ host: '127.0.0.1', port }, {})
        await bk.start()
      }
      return body
    })
    const bodies = [utf8('first'), utf8('second'), utf8('third')]
    const replies = await Promise.all(bodies.map((x) => la.link.request(b.network, 'work/1', x)))
    expect(replies.map((r, i) => equalBytes(r, bodies[i] as Uint8Array))).toEqual([true, true, true])
    expect([...effects.values()]).toEqual([1, 1, 1])
    expect(restarted).toBe(true)

    // requests asked while the broker is down complete once it is back
    await bk.stop()
    await until(() => !la.link.connected, 10_000, 'A notices the broker is gone')
    const pending = la.link.send(b.network, 'work/1', utf8('during outage'))
    bk = createBroker({ host: '127.0.0.1', port }, {})
    await bk.start()
    await pending
    expect(effects.get(toHex(utf8('during outage')))).toBe(1)
  })

  it('memory stays bounded: in-flight requests and remembered messages have limits, refusals are counted', async () => {
    const bk = await broker({ port: 0 })
    const url = bk.urls[0] as string
    const { b, la, lb } = await pair(url, { maxInFlight: 2, maxRemembered: 1, requestTimeoutMs: 3000 })
    lb.link.handle('x/1', async (_f, body) => body)
    expect(await la.link.request(b.network, 'x/1', utf8('1'))).toEqual(utf8('1'))
    // B remembers one handled message (for rememberMs): a second is refused as busy, not handled twice later
    const second = la.link.request(b.network, 'x/1', utf8('2'))
    const third = la.link.request(b.network, 'x/1', utf8('3'))
    await expect(la.link.request(b.network, 'x/1', utf8('4'))).rejects.toMatchObject({ code: 'ERR_BROKER_LIMIT' })
    await expect(second).rejects.toMatchObject({ code: 'ERR_BROKER_TIMEOUT' })
    await expect(third).rejects.toMatchObject({ code: 'ERR_BROKER_TIMEOUT' })
    expect(await rejected(lb.registry, 'busy')).toBeGreaterThanOrEqual(2)
  })

  it('the embedded broker closes connections over maxConnections and packets over maxPacketBytes', async () => {
    const registry = new Registry()
    const bk = createBroker({ host: '127.0.0.1', port: 0, maxConnections: 2, maxPacketBytes: 1024 }, { registry })
    await bk.start()
    cleanup.push(() => bk.stop())
    const url = bk.urls[0] as string
    const c1 = await rawClient(url)
    const closed = new Promise<void>((resolve) => c1.once('close', () => resolve()))
    c1.publish('t', Buffer.alloc(4096), { qos: 0 })
    await withDeadline(closed, 10_000, 'oversized packet closes the connection')
    await rawClient(url)
    await rawClient(url)
    const c3 = connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000 })
    cleanup.push(() => c3.endAsync(true))
    await withDeadline(new Promise<void>((resolve) => c3.once('close', () => resolve())), 10_000, 'third connection closed')
    expect(c3.connected).toBe(false)
    const { values } = await (registry.getSingleMetric('profichain_broker_server_refused_total') as NonNullable<ReturnType<Registry['getSingleMetric']>>).get()
    expect(values.find((v) => v.labels.reason === 'packet')?.value).toBe(1)
    expect(values.find((v) => v.labels.reason === 'connections')?.value).toBeGreaterThanOrEqual(1)
  })
})
