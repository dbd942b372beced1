// The partner link through a second MQTT implementation: a real Debian mosquitto (MQTT 3.1.1, QoS 1,
// persistent sessions), including a restart of mosquitto in the middle of a request.
import { randomBytes } from 'node:crypto'
import { toHex, utf8 } from '@profichain/core'
import { connect } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { asPartner, exchange, party, startLink, startMosquitto, until, withDeadline } from './broker-helpers.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanup.length) await (cleanup.pop() as () => Promise<void>)().catch(() => {})
})

describe('broker link through mosquitto', () => {
  it('request/response and one-way send; a subscriber on # sees only ciphertext', async () => {
    const m = await startMosquitto()
    cleanup.push(m.stop)
    const snoop = connect(m.url, { protocolVersion: 4, reconnectPeriod: 0 })
    cleanup.push(() => snoop.endAsync(true))
    await withDeadline(new Promise<void>((r) => snoop.once('connect', () => r())), 10_000, 'snooper connects')
    const payloads: Buffer[] = []
    snoop.on('message', (_t, p) => payloads.push(Buffer.from(p)))
    await snoop.subscribeAsync('#', { qos: 1 })

    const a = party('acme.example/plant-1')
    const b = party('globex.example/line-2')
    const la = await startLink(m.url, a, [asPartner(b)])
    cleanup.push(() => la.link.stop())
    const lb = await startLink(m.url, b, [asPartner(a)])
    cleanup.push(() => lb.link.stop())
    await exchange(la.link, lb.link, a.network, b.network)

    const secret = new Uint8Array(randomBytes(48))
    lb.link.handle('secret/1', async (_f, body) => body)
    expect(await la.link.request(b.network, 'secret/1', secret)).toEqual(secret)
    await until(() => payloads.length >= 8, 10_000, 'the snooper saw every message')
    const all = Buffer.concat(payloads)
    expect(all.indexOf(Buffer.from(secret))).toBe(-1)
    expect(all.toString('latin1').toLowerCase()).not.toContain(toHex(secret).slice(0, 32))
    expect(all.toString('latin1')).not.toContain(Buffer.from(secret).toString('base64').slice(0, 24))
  })

  it('a mosquitto restart in the middle of a request: it completes, the handler ran once', async () => {
    let m = await startMosquitto()
    const url = m.url
    cleanup.push(() => m.stop())
    const a = party('a')
    const b = party('b')
    const la = await startLink(url, a, [asPartner(b)])
    cleanup.push(() => la.link.stop())
    const lb = await startLink(url, b, [asPartner(a)])
    cleanup.push(() => lb.link.stop())
    const port = Number(new URL(url).port)
    let effects = 0
    lb.link.handle('work/1', async (_f, body) => {
      effects++
      if (effects === 1) {
        // mosquitto dies while B works; a new one (no persistence) takes the same port
        await m.stop()
        m = await startMosquitto({ port })
      }
      return body
    })
    expect(await la.link.request(b.network, 'work/1', utf8('once'))).toEqual(utf8('once'))
    expect(effects).toBe(1)
  })
})
