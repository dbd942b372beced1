import type { KeyPair } from '@profichain/core'
import type { Outbox } from '@profichain/store'

/** pino-compatible logger subset. */
export interface IngestLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): IngestLogger
}

/** Optional counters (the node wires them to prom-client). */
export interface IngestMetrics {
  filesAccepted(n: number): void
  filesRejected(n: number): void
  recordsCreated(n: number): void
  /** Files that changed after they were read (slow writer): left in the inbox and taken again later. */
  filesRetaken?(n: number): void
  /** Files whose name is not valid UTF-8 (rejected under an escaped name). */
  badNames?(n: number): void
  /** Receipts that could not be written (each is reported in the ReceiptWriteOutcome). */
  receiptsFailed?(n: number): void
}

export interface IngestComponents {
  network: string
  /** Origin key: every record is signed with it. */
  key: KeyPair
  /** The store's durable outbox: records are added with a dedupe key, so a restart never adds one twice. */
  outbox: Pick<Outbox, 'addMany' | 'lookup' | 'nextSeq'> & Partial<Pick<Outbox, 'lookupMany'>>
  logger?: IngestLogger
  metrics?: IngestMetrics
  /**
   * Signs many messages with `key` off the main thread (the node passes its worker pool's
   * `signMessages(key.seed, …)`). Without it records are signed inline. Issue 12.
   */
  signer?: (messages: Uint8Array[]) => Promise<Uint8Array[]>
}

export interface IngestInit {
  /** Watched folder. */
  inbox: string
  /** Default `<inbox>/../processed`. */
  processedDir?: string
  /** Default `<inbox>/../rejected`. */
  rejectedDir?: string
  /** Default `<inbox>/../receipts`. */
  receiptsDir?: string
  /** Globs on the relative path ('/' separators). Default `['**\/*']`. */
  include?: string[]
  /** Default `[]`. `*.tmp`, dotfiles and dot-folders are always ignored. */
  exclude?: string[]
  /** Larger files are rejected. Default 16 MiB; the node passes at most genesis maxTxBytes. */
  maxFileBytes?: number
  /** Files matching these globs become one record per line (CSV header kept as metadata `csvHeader`). */
  lineMode?: { patterns: string[] }
  /** A file is taken once its size and mtime stayed unchanged this long. Default 500 ms. */
  stableMs?: number
  /**
   * Files in flight at once (read, waiting for their group commit, being moved). Default 4,096: the records of
   * the files ready while one outbox batch is written share the next batch (one fsync for all).
   */
  concurrency?: number
  /**
   * Files per group commit at most. Default: a quarter of `concurrency` above 1,024 in flight (the other files
   * are taken and moved while a group is prepared and written, instead of all moving as one convoy), else
   * all of them.
   */
  groupFiles?: number
  /** Bytes of file content held in flight at once; a bigger file runs alone. Default 64 MiB. */
  maxInflightBytes?: number
  /**
   * Records per outbox batch (one LevelDB batch, one fsync): the group commit of small files fills a batch up to
   * this many records, and a bigger line-mode file is committed in batches of this size. Default 10,000: a
   * 60,000-line burst ran at 2,587 lines/s with 2,000 and 5,924 lines/s with 8,000 (fsync latency paid per batch).
   */
  batchRecords?: number
  /** Full rescan of the inbox as a safety net for missed watch events (and retry of unmovable files). Default 60 000 ms, 0 = off. */
  rescanMs?: number
}

export interface Startable {
  start(): Promise<void>
  stop(): Promise<void>
}

export interface IngestStats {
  /** Files recorded and moved to processed/. */
  accepted: number
  /** Files moved to rejected/. */
  rejected: number
  /** Records added to the outbox (duplicates not counted). */
  records: number
  /** Files seen but not finished yet (waiting to be stable, queued, or being processed). */
  pending: number
  /** Files that changed after they were read (slow writer) and were taken again later. */
  retaken: number
  /** Files with a non-UTF-8 name (rejected under an escaped name). */
  badNames: number
  /** Receipts that could not be written. */
  receiptsFailed: number
}

/** What one `writeReceipts` call did, by txId. */
export interface ReceiptWriteOutcome {
  written: string[]
  /** Not a file record / no receipt needed: ack them. */
  skipped: string[]
  /** Not written (e.g. ENOSPC): retry them later; the others are not held back. */
  failed: Array<{ txId: string; code: string; message: string }>
}

/** Whether ingest can write: `ok: false` with `code: 'DISK_FULL'` (or 'DISK_ERROR') and the failing path. */
export interface IngestHealth {
  ok: boolean
  code?: string
  message?: string
}

export interface ReceiptSource {
  txId: string
  metadata: Record<string, string>
}

export interface FileIngest extends Startable {
  /**
   * Write `receipts/<processed>.chp.json` (whole file) or append to `receipts/<processed>.chp.jsonl` (line mode)
   * for committed file records; `receiptFor` gives the Chainpoint v5 proof. Never throws for one record.
   */
  writeReceipts(
    committed: ReceiptSource[],
    receiptFor: (txId: string) => Promise<object | undefined>,
    /**
     * Optional: the same receipts as JSON text (`JSON.stringify` of receiptFor's), many at once, in the order
     * asked, undefined where there is no proof. Line-mode receipt files use it when given.
     */
    jsonsFor?: (txIds: string[]) => Promise<Array<string | undefined>>,
  ): Promise<ReceiptWriteOutcome>
  /** Not ok while files or receipts cannot be written (disk full, I/O error); recovers by itself. */
  health(): IngestHealth
  /** Counters since start. */
  stats(): IngestStats
}
