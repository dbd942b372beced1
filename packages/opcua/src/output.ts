/** Where the bridge's records go: files in an inbox, or the ingest API (the CLI adapts @profichain/client). */
export interface RecordOutput {
  start(): Promise<void>
  /** Hand over records (one JSON line each, no newline). Resolves once they are written (the file output) or accepted (the API). */
  write(lines: string[]): Promise<void>
  /** Make what was written durable and visible now (the file output closes its open file). */
  flush(): Promise<void>
  stop(): Promise<void>
  /** True when an earlier run wrote to this output (the bridge then writes a `bridge-restart` gap marker). */
  readonly resumed?: boolean
}
