/** A long-lived part of the node: started once after construction, stopped once (idempotent). */
export interface Startable {
  start(): void | Promise<void>
  stop(): Promise<void>
}
