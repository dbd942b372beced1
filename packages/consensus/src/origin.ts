import { CodecError, deviceTxInfo, type DeviceTxInfo, equalBytes, originHex as originHexOf, originKeyHex, type StrippedTx, txIdHex } from '@profichain/core'

import { ConsensusError } from './errors.js'
import type { Genesis } from './types.js'

const memberKeys = new WeakMap<Genesis, Set<string>>()

/** Lower-case hex public keys of the genesis members, built once per genesis object. */
function membersOf(genesis: Genesis): Set<string> {
  let keys = memberKeys.get(genesis)
  if (keys === undefined) {
    keys = new Set(genesis.members.map((m) => m.publicKey.toLowerCase()))
    memberKeys.set(genesis, keys)
  }
  return keys
}

/**
 * Whether `origin` (an Ed25519 public key) is a genesis member, of any role. Members may always originate
 * records; device keys may too, but only as registered on a chain (`OriginCheck` with an `OriginView`).
 */
export function isAllowedOrigin(genesis: Genesis, origin: Uint8Array): boolean {
  return origin.byteLength === 32 && membersOf(genesis).has(originKeyHex(origin))
}

/** Whether the lower-case hex key is a genesis member. */
export function isMemberKey(genesis: Genesis, keyHex: string): boolean {
  return membersOf(genesis).has(keyHex)
}

/** A device as registered on a chain (DESIGN §12): where it was registered and, if so, revoked. */
export interface DeviceEntry {
  /** The device key, lower-case hex. */
  key: string
  deviceId: string
  /** The owning member's key, lower-case hex (the origin of the `device` tx). */
  owner: string
  registered: { height: number; blockHash: string; txId: string }
  revoked?: { height: number; blockHash: string; txId: string; reason?: string }
}

/**
 * The registry and sequence index of one chain as of one block (the parent of the block being checked, or
 * the canonical head for txs arriving alone). The store builds it; the rule below only reads it.
 */
export interface OriginView {
  /** The device registered with this key (hex) on the chain, revoked or not. */
  device(key: string): DeviceEntry | undefined
  /** The txId (hex) already on the chain with this device origin (hex) and seq, if any. */
  seqTx(origin: string, seq: number): string | undefined
  /**
   * Set by a view that only knows which keys have registry events somewhere (the check before a block's
   * parent is known): device txs are then checked for form and member origin only.
   */
  readonly loose?: boolean
}

/** A view with no devices: members only (the rule before devices). */
export const NO_DEVICES: OriginView = { device: () => undefined, seqTx: () => undefined }

export type OriginRefusal = ConsensusError<'ERR_ORIGIN_NOT_MEMBER' | 'ERR_ORIGIN_REVOKED' | 'ERR_ORIGIN_REPLAY' | 'ERR_DEVICE_TX'>

/**
 * The origin rule over the txs of one block, in order (issue 10 item 7, extended by issue 14): who may
 * originate which tx, given the chain as of the block's parent (`view`) and the txs before it in the block.
 * - a genesis member may originate any kind; its `device` tx registers a key that is no member and was never
 *   registered on this chain nor earlier in the block; its `device-revoke` names a device it owns that is not
 *   revoked;
 * - any other key may originate `record` txs only, when the view has it registered and not revoked, and
 *   with a seq no other tx of that origin used on this chain or earlier in the block (replay).
 * Registrations and revocations in a block take effect from the next block on.
 */
export class OriginCheck {
  private readonly added = new Set<string>()
  private readonly revoked = new Set<string>()
  private readonly seqs = new Map<string, string>()
  private lastMember: Uint8Array | undefined

  constructor(
    private readonly genesis: Genesis,
    private readonly view: OriginView = NO_DEVICES,
    private readonly block?: { height: number; blockHash: string },
  ) {}

  /** The refusal of `tx` (at `index` in the block), or undefined; an accepted tx updates the block's state. */
  check(tx: StrippedTx, index = 0): OriginRefusal | undefined {
    const origin = tx.body.origin
    const kind = tx.body.kind
    // Runs of one member's records are common (a node's own batch): skip the hex + set lookup for a repeat.
    if (kind !== 'device' && kind !== 'device-revoke' && this.lastMember !== undefined && equalBytes(origin, this.lastMember)) return undefined
    // Memoised per origin object; the closures and the message parts below are built only for a refusal.
    const originHex = originHexOf(tx)
    if (origin.byteLength === 32 && isMemberKey(this.genesis, originHex)) {
      if (kind === 'device' || kind === 'device-revoke') return this.checkDeviceTx(tx, originHex, () => this.meta(tx, originHex, index), this.where())
      this.lastMember = origin
      return undefined
    }
    const entry = this.view.device(originHex)
    if (entry === undefined || kind !== 'record') {
      const what = kind === 'record' ? 'records' : `${kind} txs`
      const device = entry !== undefined ? `registered device "${entry.deviceId}"` : 'neither a member nor a registered device on this chain'
      return new ConsensusError(
        'ERR_ORIGIN_NOT_MEMBER',
        `tx ${txIdHex(tx)} (index ${index})${this.where()} is a ${kind} tx signed by ${originHex}, which is not a member of network "${this.genesis.network}" (${device}): only genesis members${kind === 'record' ? ' and their registered devices' : ''} may originate ${what}`,
        this.meta(tx, originHex, index),
      )
    }
    if (entry.revoked !== undefined) {
      return new ConsensusError(
        'ERR_ORIGIN_REVOKED',
        `tx ${txIdHex(tx)} (index ${index})${this.where()} is signed by device "${entry.deviceId}" (${originHex}), whose key was revoked in block ${entry.revoked.height}: the device needs a new key (profichain device rotate)`,
        this.meta(tx, originHex, index),
      )
    }
    const seq = tx.body.seq
    const seqKey = `${originHex}:${seq}`
    const other = this.seqs.get(seqKey) ?? this.view.seqTx(originHex, seq)
    const id = txIdHex(tx)
    if (other !== undefined && other !== id) {
      return new ConsensusError(
        'ERR_ORIGIN_REPLAY',
        `tx ${id} (index ${index})${this.where()} reuses seq ${seq} of device "${entry.deviceId}" (${originHex}), already used by tx ${other}: a replay`,
        { ...this.meta(tx, originHex, index), seq, otherTxId: other },
      )
    }
    this.seqs.set(seqKey, id)
    return undefined
  }

  private meta(tx: StrippedTx, originHex: string, index: number): { txId: string; origin: string; index: number } {
    return { txId: txIdHex(tx), origin: originHex, index, ...(this.block ?? {}) }
  }

  private where(): string {
    return this.block ? ` in block ${this.block.height} (${this.block.blockHash.slice(0, 16)}…)` : ''
  }

  private checkDeviceTx(
    tx: StrippedTx,
    originHex: string,
    meta: () => { txId: string; origin: string; index: number },
    where: string,
  ): OriginRefusal | undefined {
    let info: DeviceTxInfo
    try {
      info = deviceTxInfo(tx) as DeviceTxInfo
    } catch (err) {
      if (!(err instanceof CodecError)) throw err
      return new ConsensusError('ERR_DEVICE_TX', `tx ${meta().txId}${where}: ${err.message}`, meta())
    }
    const bad = (why: string) =>
      new ConsensusError('ERR_DEVICE_TX', `${info.kind} tx ${meta().txId}${where} for key ${info.key}: ${why}`, { ...meta(), deviceKey: info.key })
    if (this.view.loose) return undefined
    const entry = this.view.device(info.key)
    if (info.kind === 'device') {
      if (isMemberKey(this.genesis, info.key)) return bad('the key is a member key, not a device key')
      if (entry !== undefined || this.added.has(info.key))
        return bad(`the key is already registered${entry ? ` (device "${entry.deviceId}", block ${entry.registered.height})` : ' earlier in this block'}: a device key is registered once; rotate to a new key`)
      this.added.add(info.key)
      return undefined
    }
    if (entry === undefined) return bad('no device with this key is registered on this chain')
    if (entry.owner !== originHex) return bad(`the device is owned by ${entry.owner}; only its owner may revoke it`)
    if (entry.revoked !== undefined || this.revoked.has(info.key)) return bad('the device is already revoked')
    this.revoked.add(info.key)
    return undefined
  }
}

/**
 * Throw the first origin refusal (ConsensusError, see OriginCheck) among `txs`. Without `view` only genesis
 * members are allowed (the stateless rule). `block` (height and hash hex) goes into the error's metadata.
 */
export function checkTxOrigins(
  genesis: Genesis,
  txs: readonly StrippedTx[],
  block?: { height: number; blockHash: string },
  view?: OriginView,
): void {
  const check = new OriginCheck(genesis, view, block)
  for (let i = 0; i < txs.length; i++) {
    const refusal = check.check(txs[i], i)
    if (refusal !== undefined) throw refusal
  }
}
