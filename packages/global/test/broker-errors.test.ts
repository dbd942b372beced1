import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { expectCode, expectUnionMatchesSource, thrown } from '../../core/test/error-codes.js'
import { BROKER_ERROR_CODES, brokerClientId, createBroker, createBrokerLink, decodeEnvelope, generateHpkeKeyPair, hpkePublicKeyFromHex } from '../src/index.js'

const CODES: readonly string[] = BROKER_ERROR_CODES
const SRC = join(fileURLToPath(import.meta.url), '..', '..', 'src', 'broker')

describe('broker errors', () => {
  it('client ids are stable and within what every MQTT 3.1.1 server accepts', () => {
    const k = generateKeyPair()
    expect(brokerClientId(k.publicKey)).toBe(brokerClientId(Uint8Array.from(k.publicKey)))
    expect(brokerClientId(k.publicKey)).toMatch(/^[0-9a-zA-Z]{1,23}$/)
    expect(brokerClientId(k.publicKey)).not.toBe(brokerClientId(generateKeyPair().publicKey))
  })

  it('the code union matches what the sources throw', () => {
    expectUnionMatchesSource(SRC, CODES, ['BrokerError'])
  })

  it('every BrokerError thrown on bad input carries a code of BROKER_ERROR_CODES', async () => {
    const self = { network: 'a', signingKey: generateKeyPair(), hpkeKeyPair: generateHpkeKeyPair() }
    const link = (over: object) => createBrokerLink({ url: 'mqtt://127.0.0.1:1', clientId: 'x', self, partners: () => [], ...over })
    const cases: Array<[() => unknown, string]> = [
      [() => link({ url: 'http://x' }), 'ERR_BROKER_ARGUMENT'],
      [() => link({ self: { ...self, network: 'a/+' } }), 'ERR_BROKER_ARGUMENT'],
      [() => link({ self: { ...self, hpkeKeyPair: { publicKey: new Uint8Array(3), privateKey: new Uint8Array(32) } } }), 'ERR_BROKER_ARGUMENT'],
      [() => link({}).request('b', 'x/1', new Uint8Array(0)), 'ERR_BROKER_STOPPED'],
      [() => hpkePublicKeyFromHex('00'), 'ERR_BROKER_ARGUMENT'],
      [() => decodeEnvelope(new Uint8Array([0xff]), 10), 'ERR_BROKER_ENVELOPE'],
    ]
    for (const [fn, code] of cases) expect(expectCode(await thrown(fn), CODES, 'BrokerError')).toBe(code)
    // a port in use: the message says what to do
    const first = createBroker({ host: '127.0.0.1', port: 0 })
    await first.start()
    try {
      const port = Number(new URL(first.urls[0] as string).port)
      const err = await thrown(() => createBroker({ host: '127.0.0.1', port }).start())
      expect(expectCode(err, CODES, 'BrokerError')).toBe('ERR_BROKER_LISTEN')
      expect(err.message).toMatch(/in use: stop what listens there or choose another port/)
      const badTls = await thrown(() => createBroker({ host: '127.0.0.1', port: null, tls: { key: 'nope', cert: 'nope', port: 0 } }).start())
      expect(expectCode(badTls, CODES, 'BrokerError')).toBe('ERR_BROKER_LISTEN')
    } finally {
      await first.stop()
    }
  })
})
