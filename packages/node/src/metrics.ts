import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Prometheus metrics of one node: `profichain_<component>_<what>_<unit>`, one registry per node. Each
 * subsystem registers what it counts in this registry (the chain service, the receipts writer, the
 * network); this class holds the node-level ones. Levels are read when scraped (no copying timer).
 */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly filesAccepted = new Counter({ name: 'profichain_ingest_files_accepted_total', help: 'Files accepted by the inbox watcher', registers: [this.registry] })
  readonly filesRejected = new Counter({ name: 'profichain_ingest_files_rejected_total', help: 'Files moved to rejected/', registers: [this.registry] })
  readonly recordsCreated = new Counter({ name: 'profichain_ingest_records_total', help: 'Signed records created by ingest', registers: [this.registry] })
  readonly producerFailures = new Counter({ name: 'profichain_producer_failures_total', help: 'Block production attempts that failed (retried with back-off)', registers: [this.registry] })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'profichain_process_' })
  }

  /** Gauges for levels, read from their source at each scrape. */
  levels(sources: { height: () => number; mempool: () => number; outbox: () => Promise<number>; peers?: () => number }): void {
    const registers = [this.registry]
    new Gauge({ name: 'profichain_chain_height_blocks', help: 'Canonical head height', registers, collect() { this.set(sources.height()) } })
    new Gauge({ name: 'profichain_mempool_txs', help: 'Txs waiting in the mempool', registers, collect() { this.set(sources.mempool()) } })
    new Gauge({
      name: 'profichain_outbox_txs',
      help: 'Own txs not yet confirmed (outbox depth)',
      registers,
      async collect() {
        this.set(await sources.outbox())
      },
    })
    const peers = sources.peers
    if (peers) new Gauge({ name: 'profichain_network_peers', help: 'Connected peers', registers, collect() { this.set(peers()) } })
  }
}
