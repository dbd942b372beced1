import { Counter, Gauge, type Registry } from 'prom-client'
import { StoreError } from './types.js'

const COUNTERS = {
  blocksApplied: { name: 'profichain_store_blocks_applied_total', help: 'Blocks stored with their parent known (any branch)' },
  reorgs: { name: 'profichain_store_reorgs_total', help: 'Canonical chain switches that removed blocks' },
  orphansAdded: { name: 'profichain_store_orphans_added_total', help: 'Blocks kept in the orphan pool (parent unknown)' },
  orphansEvicted: {
    name: 'profichain_store_orphans_evicted_total',
    help: 'Orphan blocks evicted (oldest first) to keep the pool within its bounds',
  },
  originsRefused: {
    name: 'profichain_store_origins_refused_total',
    help: 'Txs refused by the origin rule (not a member, unregistered or revoked device, replay, bad device tx)',
  },
  deviceReplaysRefused: {
    name: 'profichain_store_device_replays_refused_total',
    help: 'Txs refused as replays: another tx already used their (device origin, seq)',
  },
  revokedKeysRefused: {
    name: 'profichain_store_revoked_keys_refused_total',
    help: 'Txs refused because their device key is revoked',
  },
  receiptWritesDeferred: {
    name: 'profichain_store_receipt_writes_deferred_total',
    help: 'Receipts that could not be written and were deferred for a retry',
  },
} as const

const GAUGES = {
  orphanPoolBytes: { name: 'profichain_store_orphan_pool_bytes', help: 'Summed encoded size of the orphan pool' },
  orphanPoolBlocks: { name: 'profichain_store_orphan_pool_blocks', help: 'Blocks in the orphan pool' },
  outboxDepth: { name: 'profichain_store_outbox_depth', help: "Own txs in the outbox (not yet acknowledged)" },
  deferredReceipts: { name: 'profichain_store_deferred_receipts', help: 'Receipts waiting for a retry' },
} as const

export type StoreCounter = keyof typeof COUNTERS
export type StoreGauge = keyof typeof GAUGES

/** Every prom-client metric the store registers. */
export const STORE_METRIC_NAMES: string[] = [
  ...Object.values(COUNTERS).map((c) => c.name),
  ...Object.values(GAUGES).map((g) => g.name),
]

/** The store's prom-client metrics; without a registry every call is a no-op. */
export class StoreMetrics {
  private readonly counters = new Map<StoreCounter, Counter>()
  private readonly gauges = new Map<StoreGauge, Gauge>()

  constructor(registry?: Registry) {
    if (registry === undefined) return
    for (const key of Object.keys(COUNTERS) as StoreCounter[]) {
      const { name, help } = COUNTERS[key]
      this.counters.set(key, reuse(registry, name, Counter) ?? new Counter({ name, help, registers: [registry] }))
    }
    for (const key of Object.keys(GAUGES) as StoreGauge[]) {
      const { name, help } = GAUGES[key]
      this.gauges.set(key, reuse(registry, name, Gauge) ?? new Gauge({ name, help, registers: [registry] }))
    }
  }

  count(key: StoreCounter, n = 1): void {
    if (n > 0) this.counters.get(key)?.inc(n)
  }

  level(key: StoreGauge, value: number): void {
    this.gauges.get(key)?.set(value)
  }
}

/**
 * A registry shared by several stores in one process (tests, a reopened store) keeps the first metric;
 * a metric of that name and another type is a configuration error.
 */
function reuse<T extends Counter | Gauge>(
  registry: Registry,
  name: string,
  type: abstract new (...args: never[]) => T,
): T | undefined {
  const existing = registry.getSingleMetric(name)
  if (existing === undefined) return undefined
  if (existing instanceof type && ((existing as unknown as { labelNames?: string[] }).labelNames ?? []).length === 0)
    return existing
  throw new StoreError('ERR_STORE_CONFIG', `metric ${name} is already registered with another type or labels`, {
    field: 'registry',
  })
}
