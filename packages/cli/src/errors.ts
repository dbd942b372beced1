import { type ErrorMetaArgs, ProfichainError } from '@profichain/core'

/** Every code a CliError can carry: one per kind of failure the operator has to act on. */
export const CLI_ERROR_CODES = [
  /** Wrong or missing flags/arguments (exit code 2). */
  'ERR_CLI_USAGE',
  /** A file (input, receipt, genesis, JSON) cannot be read or parsed. */
  'ERR_CLI_FILE',
  /** The data dir cannot be used for this command (holds a node already, or another devnet). */
  'ERR_CLI_DATA_DIR',
  /** The node owning the data dir is running; the command needs it stopped. */
  'ERR_CLI_NODE_RUNNING',
  /** The asked-for record or receipt is not (yet) there. */
  'ERR_CLI_NOT_FOUND',
  /** The node API cannot be reached. */
  'ERR_CLI_API_UNREACHABLE',
  /** The node API wants a (right) bearer token. */
  'ERR_CLI_API_AUTH',
  /** The node API answered with an error or something that is not its JSON. */
  'ERR_CLI_API_RESPONSE',
  /** A devnet node exited or did not become ready. */
  'ERR_CLI_DEVNET',
] as const
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number]

type NoMeta = Record<string, never>

/** The metadata each code carries. */
export interface CliErrorMeta {
  ERR_CLI_USAGE: NoMeta
  ERR_CLI_FILE: NoMeta
  ERR_CLI_DATA_DIR: NoMeta
  ERR_CLI_NODE_RUNNING: NoMeta
  ERR_CLI_NOT_FOUND: NoMeta
  /** `url`: the API base or URL that was asked. */
  ERR_CLI_API_UNREACHABLE: { url?: string }
  ERR_CLI_API_AUTH: { url?: string }
  /** `status`: the HTTP status of the answer. */
  ERR_CLI_API_RESPONSE: { url?: string; status?: number }
  ERR_CLI_DEVNET: NoMeta
}

/** A usage or operator error: the CLI prints its message as one line and exits 1 (2 for ERR_CLI_USAGE). */
export class CliError<C extends CliErrorCode = CliErrorCode> extends ProfichainError {
  declare readonly code: C
  declare readonly meta: CliErrorMeta[C] & Record<string, unknown>
  /** The process exit code: 2 for a usage error, 1 otherwise. */
  readonly exitCode: number
  constructor(code: C, message: string, ...[meta, options]: ErrorMetaArgs<CliErrorMeta, C>) {
    super(code, message, meta ?? {}, options)
    this.name = 'CliError'
    this.exitCode = code === 'ERR_CLI_USAGE' ? 2 : 1
  }
}
