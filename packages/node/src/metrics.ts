import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/** Prometheus metrics of one node: `profichain_<component>_<what>_<unit>`. One registry per node. */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly filesAccepted = new Counter({ name: 'profichain_ingest_files_accepted_total', help: 'Files accepted by the inbox watcher', registers: [this.registry] })
  readonly filesRejected = new Counter({ name: 'profichain_ingest_files_rejected_total', help: 'Files moved to rejected/', registers: [this.registry] })
  readonly recordsCreated = new Counter({ name: 'profichain_ingest_records_total', help: 'Signed records created by ingest', registers: [this.registry] })
  readonly blocks = new Counter({ name: 'profichain_chain_blocks_total', help: 'Blocks that became canonical', registers: [this.registry] })
  readonly txsCommitted = new Counter({ name: 'profichain_chain_txs_total', help: 'Txs in blocks that became canonical', registers: [this.registry] })
  readonly height = new Gauge({ name: 'profichain_chain_height_blocks', help: 'Canonical head height', registers: [this.registry] })
  readonly mempool = new Gauge({ name: 'profichain_mempool_txs', help: 'Txs waiting in the mempool', registers: [this.registry] })
  readonly outbox = new Gauge({ name: 'profichain_outbox_txs', help: 'Own txs not yet confirmed', registers: [this.registry] })

  readonly receiptsWritten = new Counter({ name: 'profichain_receipts_written_total', help: 'Receipt files written', registers: [this.registry] })
  readonly receiptsFailed = new Counter({ name: 'profichain_receipts_failed_total', help: 'Receipt file writes that failed (each is retried alone)', registers: [this.registry] })
  readonly receiptsDeferred = new Gauge({ name: 'profichain_receipts_deferred', help: 'Receipts waiting for a retry after a failed write', registers: [this.registry] })
  readonly producerFailures = new Counter({ name: 'profichain_producer_failures_total', help: 'Block production attempts that failed (retried with back-off)', registers: [this.registry] })
  readonly reorgs = new Counter({ name: 'profichain_chain_reorgs_total', help: 'Canonical chain switches to another branch', registers: [this.registry] })
  readonly gossipRejected = new Counter({ name: 'profichain_network_gossip_rejected_total', help: 'Gossip messages rejected as invalid', registers: [this.registry] })
  readonly peers = new Gauge({ name: 'profichain_network_peers', help: 'Connected peers', registers: [this.registry] })
  readonly gossipIn = new Gauge({ name: 'profichain_network_gossip_in_messages', help: 'Gossip messages received (since start)', registers: [this.registry] })
  readonly gossipOut = new Gauge({ name: 'profichain_network_gossip_out_messages', help: 'Gossip messages published (since start)', registers: [this.registry] })
  readonly syncServed = new Gauge({ name: 'profichain_network_sync_served_requests', help: 'Sync requests served (since start)', registers: [this.registry] })
  readonly syncRequests = new Gauge({ name: 'profichain_network_sync_requests', help: 'Sync requests made (since start)', registers: [this.registry] })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'profichain_process_' })
  }
}
