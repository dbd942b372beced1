import { createTransaction, stripTx, toHex, txIdHex } from '@profichain/core'
import { describe, expect, it } from 'vitest'
import { checkTxOrigins, ConsensusError, createGenesis, isAllowedOrigin } from '../src/index.js'
import { key, T0 } from './helpers.js'

const validator = key(1)
const sensor = key(2)
const stranger = key(3)
const genesis = createGenesis({
  network: 'origin-test',
  validators: [validator],
  members: [{ name: 'sensor', publicKey: toHex(sensor.publicKey).toUpperCase(), roles: ['thin'] }],
  timestamp: T0,
})
const tx = (k = sensor, seq = 0) =>
  stripTx(createTransaction(k, { network: 'origin-test', seq, payload: new Uint8Array([seq]) }))

describe('isAllowedOrigin', () => {
  it('allows every genesis member (any role), refuses any other key', () => {
    expect(isAllowedOrigin(genesis, validator.publicKey)).toBe(true)
    expect(isAllowedOrigin(genesis, sensor.publicKey)).toBe(true)
    expect(isAllowedOrigin(genesis, stranger.publicKey)).toBe(false)
    expect(isAllowedOrigin(genesis, new Uint8Array(32))).toBe(false)
    expect(isAllowedOrigin(genesis, sensor.publicKey.subarray(0, 31))).toBe(false)
  })

  it('checkTxOrigins names the tx and the origin that is not a member', () => {
    expect(() => checkTxOrigins(genesis, [tx(sensor, 0), tx(validator, 0)])).not.toThrow()
    const bad = tx(stranger, 4)
    let err: unknown
    try {
      checkTxOrigins(genesis, [tx(sensor, 1), bad], { height: 7, blockHash: 'ab'.repeat(32) })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConsensusError)
    const e = err as ConsensusError
    expect(e.code).toBe('ERR_ORIGIN_NOT_MEMBER')
    expect(e.meta).toMatchObject({ txId: txIdHex(bad), origin: toHex(stranger.publicKey), index: 1, height: 7 })
    expect(e.message).toContain(txIdHex(bad))
    expect(e.message).toContain(toHex(stranger.publicKey))
  })
})
