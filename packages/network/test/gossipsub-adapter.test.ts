// Contract test of src/gossipsub-adapter.ts against the real @libp2p/gossipsub: every internal the adapter
// relies on, and the upstream behaviour it works around. If one of these fails after an upgrade, revisit
// the adapter (and docs/network.md, "Gossipsub adapter") before anything else.
import { afterEach, describe, expect, it } from 'vitest'
import { networkConfig } from '../src/config.js'
import { assertGossipsubInternals, GossipsubAdapter } from '../src/gossipsub-adapter.js'
import { createHost, type Node } from '../src/host.js'
import { GossipActionError, NetworkError } from '../src/index.js'
import { internals, makeKeys, membersOf, NETWORK, openOnClosingConnection, waitFor } from './helpers.js'

const TOPIC = `/profichain/${NETWORK}/tx/1`
const hosts: Node[] = []
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()))
})

/** Two bare hosts (no P2PNetwork), both subscribed to TOPIC, B dialled to A. */
async function pair(): Promise<{ a: Node; b: Node }> {
  const keys = makeKeys(2)
  const config = networkConfig({ network: NETWORK, listen: ['/ip4/127.0.0.1/tcp/0'], members: membersOf(keys) })
  const [a, b] = await Promise.all(keys.map((k) => createHost(config, k, [TOPIC], () => false)))
  hosts.push(a, b)
  await Promise.all([a.start(), b.start()])
  for (const n of [a, b]) n.services.pubsub.subscribe(TOPIC)
  await b.dial(a.getMultiaddrs()[0])
  return { a, b }
}

/** Wait until `from` has a writable gossipsub stream to `to` and knows `to` subscribes to TOPIC. */
async function ready(from: Node, to: Node): Promise<GossipsubAdapter> {
  const adapter = new GossipsubAdapter(from.services.pubsub, from)
  await waitFor(
    () => adapter.readySubscribers(TOPIC) === 1 && to.services.pubsub.getSubscribers(TOPIC).length === 1,
    'subscribed both ways',
  )
  return adapter
}

describe('gossipsub adapter contract (@libp2p/gossipsub internals)', () => {
  it('finds every internal it uses, and refuses a gossipsub without them (ERR_GOSSIPSUB_INTERNALS)', async () => {
    const { a } = await pair()
    expect(() => assertGossipsubInternals(a.services.pubsub)).not.toThrow()
    expect(typeof internals(a).createOutboundStream).toBe('function')
    const stripped = new Proxy(a.services.pubsub, {
      get: (t, k) => (k === 'streamsOutbound' ? undefined : Reflect.get(t, k)),
    })
    const err = (() => {
      try {
        assertGossipsubInternals(stripped)
      } catch (e) {
        return e
      }
    })()
    expect(NetworkError.is(err, 'ERR_GOSSIPSUB_INTERNALS')).toBe(true)
    expect((err as NetworkError<'ERR_GOSSIPSUB_INTERNALS'>).meta.missing).toEqual(['streamsOutbound (Map)'])
  })

  it("classifies gossipsub's publish refusals: no peers, sent, duplicate", async () => {
    const keys = makeKeys(1)
    const config = networkConfig({ network: NETWORK, listen: ['/ip4/127.0.0.1/tcp/0'], members: membersOf(keys) })
    const alone = await createHost(config, keys[0], [TOPIC], () => false)
    hosts.push(alone)
    await alone.start()
    alone.services.pubsub.subscribe(TOPIC)
    expect(await new GossipsubAdapter(alone.services.pubsub, alone).publish(TOPIC, new Uint8Array([1]))).toEqual({
      kind: 'no-peers',
    })
    const { a, b } = await pair()
    const adapter = await ready(b, a)
    const data = new Uint8Array([1, 2, 3])
    expect(await adapter.publish(TOPIC, data)).toEqual({ kind: 'sent', recipients: 1 })
    expect(await adapter.publish(TOPIC, data)).toEqual({ kind: 'duplicate' })
  })

  it('upstream race still there: gossipsub records an outbound stream that closed while it was opened', async () => {
    // If this fails, gossipsub re-checks the stream after `await newStream()`: the guard in install() may go.
    const { a, b } = await pair()
    await ready(b, a)
    await openOnClosingConnection(b, a.peerId)
    const kept = internals(b).streamsOutbound.get(a.peerId.toString())
    expect(kept?.rawStream.status).not.toBe('open')
    // ...and with it recorded, gossipsub never opens a new one: every send to A fails.
    expect(await new GossipsubAdapter(b.services.pubsub, b).publish(TOPIC, new Uint8Array([9]))).toEqual({
      kind: 'unsent',
    })
  })

  it('install() refuses the dead stream and has gossipsub open a fresh one; gossip flows again', async () => {
    const { a, b } = await pair()
    let repairs = 0
    const adapter = new GossipsubAdapter(b.services.pubsub, b, () => repairs++)
    adapter.install()
    await ready(b, a)
    await openOnClosingConnection(b, a.peerId)
    expect(adapter.staleStreamsRefused).toBe(1)
    await waitFor(() => adapter.readySubscribers(TOPIC) === 1, 'a fresh outbound stream to A')
    const got: Uint8Array[] = []
    a.services.pubsub.addEventListener('message', (e) => got.push(e.detail.data))
    expect(await adapter.publish(TOPIC, new Uint8Array([7, 7]))).toEqual({ kind: 'sent', recipients: 1 })
    await waitFor(() => got.length === 1, 'A receives the message')
    expect(repairs).toBeGreaterThanOrEqual(1)
  })

  it('heal() gives a connected peer whose stream died a new one', async () => {
    const { a, b } = await pair()
    const adapter = await ready(b, a)
    // Its stream closes while the connection stays open (as when a duplicate connection is dropped).
    internals(b).streamsOutbound.get(a.peerId.toString())?.rawStream.abort(new Error('gone'))
    await waitFor(() => adapter.readySubscribers(TOPIC) === 0, 'the stream is gone')
    await waitFor(() => adapter.heal() === 1, 'heal repairs it once the connection is past its grace period')
    await waitFor(() => adapter.readySubscribers(TOPIC) === 1, 'a fresh outbound stream to A')
    expect(adapter.heal()).toBe(0)
  })
})

describe('GossipActionError', () => {
  it('carries the action and typed metadata of its code', () => {
    const e = new GossipActionError('reject', 'ERR_GOSSIP_ORIGIN', 'x', { peer: 'p', topic: 'tx', origin: 'ab', txs: 2 })
    expect(e).toBeInstanceOf(NetworkError)
    expect([e.action, e.code, e.meta.origin]).toEqual(['reject', 'ERR_GOSSIP_ORIGIN', 'ab'])
  })
})
