import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CodecError,
  checkDeviceTx,
  createDeviceRevokeTx,
  createDeviceTx,
  DEVICE_LIMITS,
  decodeDevicePayload,
  decodeDeviceRevokePayload,
  deviceTxInfo,
  encodeDevicePayload,
  encodeDeviceRevokePayload,
  fromHex,
  keyPairFromSeed,
  toHex,
  txIdHex,
  verifyTxSignature,
} from '../src/index.js'
import { bytes, text } from './arbitraries.js'

// The vectors of docs/devices.md.
const KEY = new Uint8Array(32).map((_, i) => i)
const PAYLOAD_HEX =
  '85016770726573732d375820000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f66542d3130303065534e2d3432'
const REVOKE_HEX = '83015820000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f6673746f6c656e'
const MEMBER = keyPairFromSeed(new Uint8Array(32).fill(1))
const DEVICE_TX_ID = 'befdde4c14f67bb23948e4df23c853b2101ab5c53e993ea38a762235eb1c8070'

const nonEmpty = (max: number) => text(max).filter((s) => s.length > 0)
const deviceArb = fc.record(
  {
    deviceId: nonEmpty(DEVICE_LIMITS.deviceIdBytes),
    publicKey: bytes(32),
    model: text(DEVICE_LIMITS.fieldBytes),
    serial: text(DEVICE_LIMITS.fieldBytes),
  },
  { requiredKeys: ['deviceId', 'publicKey'] },
)
const revokeArb = fc.record({ publicKey: bytes(32), reason: text(DEVICE_LIMITS.reasonBytes) }, { requiredKeys: ['publicKey'] })

/** A decoder must return or throw CodecError: never another error, never hang. */
function typedOrValue(f: () => unknown): void {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError)
  }
}

describe('device payloads', () => {
  it('match the documented vectors', () => {
    expect(toHex(encodeDevicePayload({ deviceId: 'press-7', publicKey: KEY, model: 'T-1000', serial: 'SN-42' }))).toBe(PAYLOAD_HEX)
    expect(decodeDevicePayload(fromHex(PAYLOAD_HEX))).toEqual({ deviceId: 'press-7', publicKey: KEY, model: 'T-1000', serial: 'SN-42' })
    expect(toHex(encodeDeviceRevokePayload({ publicKey: KEY, reason: 'stolen' }))).toBe(REVOKE_HEX)
    const tx = createDeviceTx(MEMBER, { network: 'docs', seq: 0, timestamp: 1_700_000_000_000, device: { deviceId: 'press-7', publicKey: KEY, model: 'T-1000', serial: 'SN-42' } })
    expect(txIdHex(tx)).toBe(DEVICE_TX_ID)
    expect(tx.body.metadata).toEqual({ 'device.key': toHex(KEY), 'device.id': 'press-7' })
    expect(verifyTxSignature(tx)).toBe(true)
    expect(deviceTxInfo(tx)).toEqual({ kind: 'device', key: toHex(KEY), deviceId: 'press-7' })
    expect(() => checkDeviceTx(tx)).not.toThrow()
  })

  it('round-trip (property), also as signed txs whose metadata agrees with the payload', () => {
    fc.assert(
      fc.property(deviceArb, (d) => {
        const enc = encodeDevicePayload(d)
        expect(decodeDevicePayload(enc)).toEqual(d)
        const tx = createDeviceTx(MEMBER, { network: 'p', seq: 1, device: d })
        expect(deviceTxInfo(tx)).toMatchObject({ kind: 'device', key: toHex(d.publicKey), deviceId: d.deviceId })
        checkDeviceTx(tx)
      }),
    )
    fc.assert(
      fc.property(revokeArb, (r) => {
        expect(decodeDeviceRevokePayload(encodeDeviceRevokePayload(r))).toEqual(r)
        const tx = createDeviceRevokeTx(MEMBER, { network: 'p', seq: 2, revoke: r })
        expect(deviceTxInfo(tx)).toEqual({ kind: 'device-revoke', key: toHex(r.publicKey), ...(r.reason !== undefined ? { reason: r.reason } : {}) })
        checkDeviceTx(tx)
      }),
    )
  })

  it('refuse bad fields with a CodecError naming them', () => {
    expect(() => encodeDevicePayload({ deviceId: '', publicKey: KEY })).toThrow(/deviceId/)
    expect(() => encodeDevicePayload({ deviceId: 'x'.repeat(DEVICE_LIMITS.deviceIdBytes + 1), publicKey: KEY })).toThrow(CodecError)
    expect(() => encodeDevicePayload({ deviceId: 'a', publicKey: KEY.subarray(1) })).toThrow(/publicKey/)
    const v2 = fromHex(PAYLOAD_HEX)
    v2[1] = 0x02
    expect(() => decodeDevicePayload(v2)).toThrow(/unsupported version 2/)
    expect(() => createDeviceTx(MEMBER, { network: 'p', seq: 0, device: { deviceId: 'self', publicKey: MEMBER.publicKey } })).toThrow(CodecError)
    // A tx whose payload disagrees with its metadata is refused.
    const tx = createDeviceTx(MEMBER, { network: 'p', seq: 0, device: { deviceId: 'a', publicKey: KEY } })
    expect(() => checkDeviceTx({ ...tx, payload: encodeDevicePayload({ deviceId: 'b', publicKey: KEY }) })).toThrow(/different/)
    expect(() => deviceTxInfo({ ...tx, body: { ...tx.body, metadata: { 'device.key': 'XYZ' } } })).toThrow(CodecError)
  })

  it('fuzz: random and mutated bytes give a value or a CodecError, never a crash', () => {
    const seeds = [fromHex(PAYLOAD_HEX), fromHex(REVOKE_HEX)]
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        typedOrValue(() => decodeDevicePayload(b))
        typedOrValue(() => decodeDeviceRevokePayload(b))
      }),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat({ max: 8 }),
        (seed, flips, cut) => {
          const b = new Uint8Array(seed)
          for (const [i, v] of flips) b[i % b.length] = v
          const m = b.subarray(0, b.length - cut)
          typedOrValue(() => decodeDevicePayload(m))
          typedOrValue(() => decodeDeviceRevokePayload(m))
        },
      ),
      { numRuns: 2000 },
    )
    // Oversized input is refused before decoding.
    expect(() => decodeDevicePayload(new Uint8Array(DEVICE_LIMITS.payloadBytes + 1))).toThrow(/longer than/)
  })
})
