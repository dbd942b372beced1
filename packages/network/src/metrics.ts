import { Counter, type Registry } from 'prom-client'
import { NetworkError } from './errors.js'
import type { IgnoreReason, NetworkStats, RejectReason } from './types.js'

/** The counters behind `stats()` (levels such as `peers` are read when asked). */
export type CounterKey = Exclude<keyof NetworkStats, 'rejected' | 'peers' | 'publishQueueLength' | 'bannedPeers'>

type Spec = { name: string; help: string; labels: readonly string[] } | null

/**
 * Each stats counter and the prom-client Counter it feeds (`profichain_network_<name>_total`), or null when
 * another metric already carries it as a label (decode failures are `gossip_rejected{reason="decode"}`).
 */
const SPECS = {
  gossipIn: { name: 'gossip_received', help: 'Gossip messages received, before validation', labels: ['topic'] },
  gossipBytesIn: { name: 'gossip_received_bytes', help: 'Bytes of gossip messages received', labels: ['topic'] },
  gossipOut: { name: 'gossip_published', help: 'Gossip messages handed to at least one peer', labels: ['topic'] },
  gossipBytesOut: { name: 'gossip_published_bytes', help: 'Bytes of gossip messages published', labels: ['topic'] },
  gossipAccepted: { name: 'gossip_accepted', help: 'Gossip messages accepted (delivered and forwarded)', labels: ['topic'] },
  gossipRejected: {
    name: 'gossip_rejected',
    help: 'Gossip messages rejected (sender penalised), by reason: decode, invalid, origin, orphan-flood, banned',
    labels: ['topic', 'reason'],
  },
  gossipIgnored: {
    name: 'gossip_ignored',
    help: 'Gossip messages ignored (dropped without penalty), by reason: verdict, orphan, callback-error',
    labels: ['topic', 'reason'],
  },
  gossipDecodeFailed: null,
  gossipCallbackErrors: null,
  publishQueued: { name: 'publish_queued', help: 'Gossip messages queued for publishing', labels: ['topic'] },
  publishRetries: { name: 'publish_retries', help: 'Publishes retried because no peer was subscribed', labels: [] },
  publishErrors: { name: 'publish_errors', help: 'Publishes that failed with an error (retried)', labels: [] },
  publishUnsent: { name: 'publish_unsent', help: 'Publishes that reached no peer', labels: ['topic'] },
  publishRenewed: {
    name: 'publish_renewed',
    help: "Tx batches re-sent in another order because gossipsub's seen cache refused their bytes (a republish)",
    labels: [],
  },
  publishDeferred: {
    name: 'publish_deferred',
    help: "Tx batches (single records) deferred because gossipsub's seen cache refused their bytes: folded into the next batch or retried later",
    labels: [],
  },
  publishDropped: {
    name: 'publish_dropped',
    help: 'Queued gossip messages dropped, oldest first, because the queue was over maxQueuedBytes (own records are re-sent from the outbox)',
    labels: ['topic'],
  },
  streamRepairs: {
    name: 'gossip_stream_repairs',
    help: 'Dead gossipsub outbound streams refused or replaced (see docs/network.md)',
    labels: [],
  },
  syncServed: { name: 'sync_served', help: 'Sync requests answered', labels: ['kind'] },
  syncServeFailed: { name: 'sync_serve_failed', help: 'Sync requests answered with an error', labels: [] },
  syncBadRequests: { name: 'sync_bad_requests', help: 'Malformed or unreadable sync requests', labels: [] },
  syncBytesOut: { name: 'sync_served_bytes', help: 'Bytes of sync responses sent', labels: [] },
  syncRequests: { name: 'sync_requests', help: 'Sync requests made to peers', labels: ['kind'] },
  syncRequestsFailed: { name: 'sync_requests_failed', help: 'Sync requests that failed, by code', labels: ['code'] },
  syncBytesIn: { name: 'sync_received_bytes', help: 'Bytes of sync responses received', labels: [] },
  gaterDenied: { name: 'gater_denied', help: 'Connections refused (non-member or banned peer)', labels: [] },
  orphanBlocks: { name: 'orphan_blocks', help: 'Orphan blocks received by gossip', labels: [] },
  peerBans: { name: 'peer_bans', help: 'Peers banned, by reason', labels: ['reason'] },
  dials: { name: 'dials', help: 'Dials to members', labels: [] },
  dialFailures: { name: 'dial_failures', help: 'Failed dials to members', labels: [] },
  peerExchanges: { name: 'peer_exchanges', help: 'Peer exchanges completed', labels: [] },
} as const satisfies Record<CounterKey, Spec>

type Specs = typeof SPECS
/** The labels a counter takes (none for a counter without a prom-client twin). */
export type LabelsOf<K extends CounterKey> = Specs[K] extends { labels: readonly (infer L extends string)[] }
  ? Record<L, string>
  : Record<string, never>

/** Prometheus name of a counter (null when it has none). */
export function metricName(key: CounterKey): string | null {
  const spec: Spec = SPECS[key]
  return spec === null ? null : `profichain_network_${spec.name}_total`
}

/** Every prom-client metric the network registers. */
export const NETWORK_METRIC_NAMES: string[] = (Object.keys(SPECS) as CounterKey[])
  .map(metricName)
  .filter((n): n is string => n !== null)

/**
 * What the network counts, kept twice: plain numbers for `stats()` and, when a registry is given,
 * prom-client Counters. One call updates both.
 */
export class NetworkMetrics {
  private readonly values = Object.fromEntries(Object.keys(SPECS).map((k) => [k, 0])) as Record<CounterKey, number>
  private readonly rejected: Record<RejectReason, number> = {
    decode: 0,
    invalid: 0,
    origin: 0,
    'orphan-flood': 0,
    banned: 0,
  }
  private readonly counters = new Map<CounterKey, Counter<string>>()

  constructor(registry?: Registry) {
    if (registry === undefined) return
    for (const key of Object.keys(SPECS) as CounterKey[]) {
      const spec: Spec = SPECS[key]
      const name = metricName(key)
      if (spec === null || name === null) continue
      const existing = registry.getSingleMetric(name)
      const sameLabels = (m: object) =>
        [...((m as { labelNames?: string[] }).labelNames ?? [])].sort().join() === [...spec.labels].sort().join()
      if (existing !== undefined && !(existing instanceof Counter && sameLabels(existing)))
        throw new NetworkError(
          'ERR_CONFIG',
          `metric ${name} is already registered with other labels or type: drop it, the network registers it`,
          { field: 'registry' },
        )
      // A registry shared by several networks in one process (tests, restarts) keeps the first Counter.
      this.counters.set(
        key,
        (existing as Counter<string> | undefined) ??
          new Counter({ name, help: spec.help, labelNames: [...spec.labels], registers: [registry] }),
      )
    }
  }

  /** Count `n` (default 1) on `key`, with the labels its prom-client Counter takes. */
  count<K extends CounterKey>(key: K, labels: LabelsOf<K>, n = 1): void {
    this.values[key] += n
    this.counters.get(key)?.inc(labels as Record<string, string>, n)
  }

  /** One rejected gossip message (also split by reason in `stats().rejected`). */
  rejectedGossip(topic: string, reason: RejectReason): void {
    this.rejected[reason]++
    if (reason === 'decode') this.values.gossipDecodeFailed++
    this.count('gossipRejected', { topic, reason })
  }

  /** One ignored gossip message. */
  ignoredGossip(topic: string, reason: IgnoreReason): void {
    if (reason === 'callback-error') this.values.gossipCallbackErrors++
    this.count('gossipIgnored', { topic, reason })
  }

  /** Snapshot of the counters. */
  snapshot(): Record<CounterKey, number> & { rejected: Record<RejectReason, number> } {
    return { ...this.values, rejected: { ...this.rejected } }
  }
}
