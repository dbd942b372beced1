// Types for protocol-vectors.mjs (plain JS so scripts can regenerate the fixture without a build step).
export declare const INPUTS: Record<string, unknown>
export interface ProtocolVectors {
  vectors: Record<string, string>
  chainpoint: object
  native: object
  [key: string]: unknown
}
export declare function computeProtocolVectors(core: typeof import('../src/index.js')): ProtocolVectors
