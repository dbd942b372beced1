import { ProfichainError } from '@profichain/core'

/** Every error code of @profichain/node (a caller's `switch` over `err.code` is checked). */
export const NODE_ERROR_CODES = [
  /** The config, genesis or key does not allow this node to run as configured. */
  'ERR_CONFIG',
  /** A part of the node was used before `start()` set it up. */
  'ERR_NOT_STARTED',
  /** Quorum: this validator already co-signed another block at this height; it must not seal one there. */
  'ERR_VOTE_GUARD',
] as const

export type NodeErrorCode = (typeof NODE_ERROR_CODES)[number]

/** The metadata each code carries. */
export interface NodeErrorMeta {
  ERR_CONFIG: { issues?: unknown[]; line?: number; column?: number }
  ERR_NOT_STARTED: { part: string }
  ERR_VOTE_GUARD: { height: number; blockHash: string }
}

/** A node failure with a stable code and the metadata of that code. */
export class NodeError<C extends NodeErrorCode = NodeErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: NodeErrorMeta[C] & Record<string, unknown>

  constructor(code: C, message: string, meta: NodeErrorMeta[C], options?: { cause?: unknown }) {
    super(code, message, meta as Record<string, unknown>, options)
    this.name = 'NodeError'
  }
}
