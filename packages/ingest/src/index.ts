import { FileIngestImpl } from './file-ingest.js'
import type { FileIngest, IngestComponents, IngestInit } from './types.js'

export * from './errors.js'
export { boundedName, boundedPath } from './fs-util.js'
export { lineFormatOf, splitLines, type LineFormat, type LineRecord } from './lines.js'
export { type LineReceipt, readLineReceipts } from './receipts.js'

export * from './types.js'

/** Factory: the file watcher of DESIGN §8. */
export function createFileIngest(init: IngestInit, components: IngestComponents): FileIngest {
  return new FileIngestImpl(components, init)
}
export * from './api/index.js'
