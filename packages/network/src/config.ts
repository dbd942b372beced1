import { NetworkError } from './errors.js'
import type { NetworkInit } from './types.js'

export const MiB = 1024 * 1024
/** Per-item framing allowance (CBOR byte-string header) in batches and sync responses. */
export const ITEM_OVERHEAD = 9

/** `NetworkInit` with every default filled in. */
export type NetworkConfig = Required<Omit<NetworkInit, 'bootstrap' | 'validators'>> & { bootstrap: string[]; validators: string[] }

/** Fill in the defaults of `init` and check it (ERR_CONFIG naming the field that is wrong). */
export function networkConfig(init: NetworkInit): NetworkConfig {
  if (!init.network) throw new NetworkError('ERR_CONFIG', 'network id is required', { field: 'network' })
  const c: NetworkConfig = {
    network: init.network,
    listen: init.listen,
    bootstrap: init.bootstrap ?? [],
    targetPeers: init.targetPeers ?? 8,
    relayTxs: init.relayTxs ?? true,
    members: init.members,
    validators: (init.validators ?? []).map((v) => v.toLowerCase()),
    maxMessageBytes: init.maxMessageBytes ?? 16 * MiB,
    maxBatchBytes: init.maxBatchBytes ?? 1 * MiB,
    publishBytesPerSecond: init.publishBytesPerSecond ?? 64 * MiB,
    maxQueuedBytes: init.maxQueuedBytes ?? 64 * MiB,
    syncTimeoutMs: init.syncTimeoutMs ?? 15_000,
    syncServeTimeoutMs: init.syncServeTimeoutMs ?? 15_000,
    redialBaseMs: init.redialBaseMs ?? 250,
    redialMaxMs: init.redialMaxMs ?? 10_000,
    maintenanceIntervalMs: init.maintenanceIntervalMs ?? 2_000,
    orphanLimit: init.orphanLimit ?? 64,
    orphanWindowMs: init.orphanWindowMs ?? 60_000,
    banMs: init.banMs ?? 10 * 60_000,
  }
  if (!(c.orphanLimit >= 1 && c.orphanWindowMs > 0 && c.banMs >= 0))
    throw new NetworkError('ERR_CONFIG', 'orphanLimit must be ≥ 1, orphanWindowMs > 0 and banMs ≥ 0', {
      field: 'orphanLimit',
    })
  if (c.maxBatchBytes > c.maxMessageBytes)
    throw new NetworkError('ERR_CONFIG', 'maxBatchBytes must not exceed maxMessageBytes', { field: 'maxBatchBytes' })
  return c
}

/** Topic and protocol names of a network (part of the wire format: DESIGN §7, docs/network.md). */
export function protocolNames(network: string) {
  return {
    txTopic: `/profichain/${network}/tx/1`,
    blockTopic: `/profichain/${network}/block/1`,
    voteTopic: `/profichain/${network}/vote/1`,
    checkpointTopic: `/profichain/${network}/checkpoint/1`,
    syncProtocol: `/profichain/${network}/sync/1`,
  }
}

/** Logger that drops everything (when the node gives none). */
export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} }

/** `Name: message` of any thrown value, for logs. */
export function errMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** Promise that resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })
}
