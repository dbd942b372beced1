// Types for ingest-vectors.mjs (plain JS so the Python client's tests and docs tooling can run it too).
export declare const INGEST_INPUTS: Record<string, unknown>
export interface IngestVectors {
  vectors: Record<string, string>
  tier2: Record<string, string>
  frames: Record<string, string>
  [key: string]: unknown
}
export declare function computeIngestVectors(core: typeof import('../src/index.js')): IngestVectors
