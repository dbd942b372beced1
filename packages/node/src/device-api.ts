import type { ApiDevice, ApiDevices } from '@profichain/api'
import { type Genesis, OriginCheck } from '@profichain/consensus'
import { createDeviceRevokeTx, createDeviceTx, fromHex, type KeyPair, type Transaction } from '@profichain/core'
import type { BlockTree } from '@profichain/store'

export interface DeviceApiComponents {
  genesis: Genesis
  /** This node's member key: it signs the device txs. */
  key: KeyPair
  tree: Pick<BlockTree, 'devices' | 'mempool' | 'outbox'>
  /** The chain service's submitOwn (outbox, then mempool and gossip). */
  submit(items: Array<{ tx: Transaction; dedupeKey?: string }>): Promise<Array<{ txId: string; duplicate: boolean }>>
}

/**
 * The node side of the GraphQL device query and mutations (issue 14): the canonical registry with this
 * node's refusal counts, and device / device-revoke txs signed with the node's member key. A request the
 * origin rule would refuse (not a member, key already registered, not the owner…) throws its ConsensusError
 * before anything is signed into the outbox; a repeated request is answered `duplicate` (dedupe key).
 */
export function createDeviceApi(c: DeviceApiComponents): ApiDevices {
  const send = async (tx: Transaction, dedupeKey: string) => {
    const [r] = await c.submit([{ tx, dedupeKey }])
    return { txId: r.txId, seq: tx.body.seq, duplicate: r.duplicate }
  }
  const check = (tx: Transaction) => {
    const refusal = new OriginCheck(c.genesis, c.tree.mempool.originView()).check(tx)
    if (refusal !== undefined) throw refusal
  }
  return {
    list(): ApiDevice[] {
      const refusals = c.tree.devices.refusals()
      return c.tree.devices.list().map((d) => ({
        publicKey: d.key,
        deviceId: d.deviceId,
        owner: d.owner,
        registeredHeight: d.registered.height,
        registeredBlock: d.registered.blockHash,
        registeredTx: d.registered.txId,
        revoked: d.revoked !== undefined,
        revokedHeight: d.revoked?.height ?? null,
        revokedTx: d.revoked?.txId ?? null,
        revokeReason: d.revoked?.reason ?? null,
        replaysRefused: refusals.get(d.key)?.replays ?? 0,
        revokedUseRefused: refusals.get(d.key)?.revoked ?? 0,
      }))
    },
    async register(input) {
      const seq = await c.tree.outbox.nextSeq(c.key.publicKey)
      const device = {
        deviceId: input.deviceId,
        publicKey: fromHex(input.publicKey),
        ...(input.model !== undefined ? { model: input.model } : {}),
        ...(input.serial !== undefined ? { serial: input.serial } : {}),
      }
      const tx = createDeviceTx(c.key, { network: c.genesis.network, seq, device })
      if (!(await isRepeat(`device:${input.publicKey}`))) check(tx)
      return send(tx, `device:${input.publicKey}`)
    },
    async revoke(input) {
      const seq = await c.tree.outbox.nextSeq(c.key.publicKey)
      const tx = createDeviceRevokeTx(c.key, {
        network: c.genesis.network,
        seq,
        revoke: { publicKey: fromHex(input.publicKey), ...(input.reason !== undefined ? { reason: input.reason } : {}) },
      })
      if (!(await isRepeat(`device-revoke:${input.publicKey}`))) check(tx)
      return send(tx, `device-revoke:${input.publicKey}`)
    },
  }

  async function isRepeat(dedupeKey: string): Promise<boolean> {
    return (await c.tree.outbox.lookup(dedupeKey)) !== undefined
  }
}
