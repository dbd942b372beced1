import type { RecordOutput } from './output.js'

/** What the API output needs of `@profichain/client`'s `ProfichainClient` (kept structural: no dependency on the client package). */
export interface IngestClientLike {
  start(): Promise<void>
  /** Sign and queue one record; with a spool it resolves once the record is fsynced. */
  queue(payload: Uint8Array, metadata?: Record<string, string>): Promise<unknown>
  drain(opts?: { receipts?: boolean; timeoutMs?: number }): Promise<void>
  close(): Promise<void>
}

export interface ApiOutputInit {
  /** Metadata on every record (e.g. `{ 'content-type': 'application/json' }`). */
  metadata?: Record<string, string>
  /** How long `stop()` waits for the node's acks, ms (default 30 s; unacked records stay in the spool). */
  drainTimeoutMs?: number
  /** `stop()` also waits for the receipts of what was sent (default false: acks only). */
  drainReceipts?: boolean
}

/** Records sealed by the bridge as a registered device and sent over the ingest API (DESIGN §12, §14). */
export function createApiOutput(client: IngestClientLike, init: ApiOutputInit = {}): RecordOutput {
  const metadata = { 'content-type': 'application/json', ...init.metadata }
  return {
    start: () => client.start(),
    async write(lines) {
      for (const l of lines) await client.queue(Buffer.from(l, 'utf8'), metadata)
    },
    async flush() {},
    async stop() {
      await client.drain({ receipts: init.drainReceipts ?? false, timeoutMs: init.drainTimeoutMs ?? 30_000 }).catch(() => {})
      await client.close()
    },
  }
}
