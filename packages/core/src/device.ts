import { equalBytes, fromHex, toHex } from './bytes.js'
import { type CborValue, decodeCbor, encodeCbor, read } from './codec.js'
import { CodecError } from './errors.js'
import type { KeyPair } from './keys.js'
import { createTransaction, type StrippedTx, type Transaction } from './transaction.js'

/**
 * Device identities (DESIGN §12, docs/devices.md): a `device` tx, signed by the owning member, registers a
 * device's Ed25519 public key; a `device-revoke` tx revokes it. The payload is the versioned CBOR below; the
 * fields the chain's rules need (the device key, its id) are repeated in the signed tx metadata, because
 * blocks carry stripped txs (no payloads) and every node must apply the registry from the block alone.
 */
export const DEVICE_PAYLOAD_VERSION = 1

/** Limits of the device payload fields (bytes of UTF-8). */
export const DEVICE_LIMITS = { deviceIdBytes: 128, fieldBytes: 256, reasonBytes: 512, payloadBytes: 2048 } as const

/** Metadata keys of `device` / `device-revoke` txs (values: lower-case hex key, device id, reason). */
export const DEVICE_META = { key: 'device.key', id: 'device.id', reason: 'device.reason' } as const

/** Payload of a `device` tx: CBOR [1, deviceId, publicKey(32), model|null, serial|null]. */
export interface DevicePayload {
  deviceId: string
  publicKey: Uint8Array
  model?: string
  serial?: string
}

/** Payload of a `device-revoke` tx: CBOR [1, publicKey(32), reason|null]. */
export interface DeviceRevokePayload {
  publicKey: Uint8Array
  reason?: string
}

function optText(v: CborValue, what: string, max: number): string | undefined {
  return v === null ? undefined : read.text(v, what, max)
}

function checkVersion(v: CborValue, what: string): void {
  const version = read.uint(v, `${what}.version`)
  if (version !== DEVICE_PAYLOAD_VERSION) throw new CodecError(`${what}.version: unsupported version ${version}`)
}

function checkDeviceId(id: string): string {
  if (id.length === 0) throw new CodecError('device.deviceId: must not be empty')
  return id
}

export function encodeDevicePayload(p: DevicePayload): Uint8Array {
  const out = encodeCbor([DEVICE_PAYLOAD_VERSION, p.deviceId, p.publicKey, p.model ?? null, p.serial ?? null])
  decodeDevicePayload(out) // never sign what peers would refuse
  return out
}

export function decodeDevicePayload(bytes: Uint8Array): DevicePayload {
  if (bytes.byteLength > DEVICE_LIMITS.payloadBytes) throw new CodecError(`device payload: longer than ${DEVICE_LIMITS.payloadBytes} bytes`)
  const a = read.array(decodeCbor(bytes, 'device payload'), 5, 'device payload')
  checkVersion(a[0], 'device')
  const out: DevicePayload = {
    deviceId: checkDeviceId(read.text(a[1], 'device.deviceId', DEVICE_LIMITS.deviceIdBytes)),
    publicKey: read.bytes(a[2], 'device.publicKey', 32),
  }
  const model = optText(a[3], 'device.model', DEVICE_LIMITS.fieldBytes)
  const serial = optText(a[4], 'device.serial', DEVICE_LIMITS.fieldBytes)
  if (model !== undefined) out.model = model
  if (serial !== undefined) out.serial = serial
  return out
}

export function encodeDeviceRevokePayload(p: DeviceRevokePayload): Uint8Array {
  const out = encodeCbor([DEVICE_PAYLOAD_VERSION, p.publicKey, p.reason ?? null])
  decodeDeviceRevokePayload(out)
  return out
}

export function decodeDeviceRevokePayload(bytes: Uint8Array): DeviceRevokePayload {
  if (bytes.byteLength > DEVICE_LIMITS.payloadBytes) throw new CodecError(`device-revoke payload: longer than ${DEVICE_LIMITS.payloadBytes} bytes`)
  const a = read.array(decodeCbor(bytes, 'device-revoke payload'), 3, 'device-revoke payload')
  checkVersion(a[0], 'device-revoke')
  const out: DeviceRevokePayload = { publicKey: read.bytes(a[1], 'device-revoke.publicKey', 32) }
  const reason = optText(a[2], 'device-revoke.reason', DEVICE_LIMITS.reasonBytes)
  if (reason !== undefined) out.reason = reason
  return out
}

/** What the chain rules read from a `device` / `device-revoke` tx (its signed metadata). */
export interface DeviceTxInfo {
  kind: 'device' | 'device-revoke'
  /** The device key, lower-case hex. */
  key: string
  /** `device`: the device id. */
  deviceId?: string
  /** `device-revoke`: the reason, if given. */
  reason?: string
}

const HEX64 = /^[0-9a-f]{64}$/

/**
 * The registry fields of a `device` / `device-revoke` tx from its metadata (undefined for other kinds).
 * Throws CodecError when the metadata lacks them or they are malformed (such a tx is invalid).
 */
export function deviceTxInfo(tx: StrippedTx): DeviceTxInfo | undefined {
  const { kind, metadata } = tx.body
  if (kind !== 'device' && kind !== 'device-revoke') return undefined
  const key = metadata[DEVICE_META.key]
  if (key === undefined || !HEX64.test(key)) throw new CodecError(`${kind} tx: metadata "${DEVICE_META.key}" must be 64 lower-case hex digits`)
  if (kind === 'device') {
    const deviceId = metadata[DEVICE_META.id]
    if (deviceId === undefined || deviceId.length === 0 || Buffer.byteLength(deviceId) > DEVICE_LIMITS.deviceIdBytes)
      throw new CodecError(`device tx: metadata "${DEVICE_META.id}" must be a non-empty id of at most ${DEVICE_LIMITS.deviceIdBytes} bytes`)
    return { kind, key, deviceId }
  }
  const reason = metadata[DEVICE_META.reason]
  return reason === undefined ? { kind, key } : { kind, key, reason }
}

/**
 * Check a `device` / `device-revoke` tx with its payload: the payload decodes and agrees with the metadata.
 * Throws CodecError naming the mismatch; other kinds pass.
 */
export function checkDeviceTx(tx: Transaction): void {
  const info = deviceTxInfo(tx)
  if (info === undefined) return
  if (info.kind === 'device') {
    const p = decodeDevicePayload(tx.payload)
    if (toHex(p.publicKey) !== info.key || p.deviceId !== info.deviceId)
      throw new CodecError('device tx: payload and metadata name different keys or device ids')
  } else {
    const p = decodeDeviceRevokePayload(tx.payload)
    if (toHex(p.publicKey) !== info.key || p.reason !== info.reason)
      throw new CodecError('device-revoke tx: payload and metadata name different keys or reasons')
  }
}

export interface DeviceTxInit {
  network: string
  seq: number
  timestamp?: number
}

/** Build and sign (with the owning member's key) a `device` tx registering `device`. */
export function createDeviceTx(member: KeyPair, init: DeviceTxInit & { device: DevicePayload }): Transaction {
  const d = init.device
  if (equalBytes(d.publicKey, member.publicKey)) throw new CodecError('device tx: a member cannot register its own key as a device')
  return createTransaction(member, {
    network: init.network,
    kind: 'device',
    seq: init.seq,
    ...(init.timestamp !== undefined ? { timestamp: init.timestamp } : {}),
    payload: encodeDevicePayload(d),
    metadata: { [DEVICE_META.key]: toHex(d.publicKey), [DEVICE_META.id]: d.deviceId },
  })
}

/** Build and sign (with the owning member's key) a `device-revoke` tx for `revoke.publicKey`. */
export function createDeviceRevokeTx(member: KeyPair, init: DeviceTxInit & { revoke: DeviceRevokePayload }): Transaction {
  const r = init.revoke
  return createTransaction(member, {
    network: init.network,
    kind: 'device-revoke',
    seq: init.seq,
    ...(init.timestamp !== undefined ? { timestamp: init.timestamp } : {}),
    payload: encodeDeviceRevokePayload(r),
    metadata: { [DEVICE_META.key]: toHex(r.publicKey), ...(r.reason !== undefined ? { [DEVICE_META.reason]: r.reason } : {}) },
  })
}

/** The device key bytes of a DeviceTxInfo. */
export function deviceKeyBytes(info: DeviceTxInfo): Uint8Array {
  return fromHex(info.key)
}
