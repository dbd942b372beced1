import { gqlError } from './errors.js'

export interface BudgetLimits {
  /** Rows (blocks and txs loaded, scanned, hashed or returned) one request may touch. */
  maxWork: number
  /** Approximate bytes of result one request may build. */
  maxResultBytes: number
  /** Wall time one request may spend resolving, in ms. */
  maxQueryMs: number
}

export type BudgetKind = 'work' | 'result' | 'time'

/**
 * The run-time side of query cost: resolvers charge what they really do (a block's real tx count, each
 * tx a scan looks at, the bytes they return) before doing it, so the work of one request stays bounded
 * whatever the static estimate assumed. Once spent, every later charge fails fast with
 * QUERY_BUDGET_EXCEEDED, which aborts the rest of the request's work.
 */
export class WorkBudget {
  work = 0
  bytes = 0
  private deadline: number
  private spent?: BudgetKind

  constructor(
    private readonly limits: BudgetLimits,
    private readonly onExceeded: (kind: BudgetKind) => void = () => {},
  ) {
    this.deadline = Date.now() + limits.maxQueryMs
  }

  /** Start afresh (each event of a subscription is its own unit of work). */
  reset(): void {
    this.work = 0
    this.bytes = 0
    this.spent = undefined
    this.deadline = Date.now() + this.limits.maxQueryMs
  }

  /** Account for `rows` of work and `bytes` of result; throws QUERY_BUDGET_EXCEEDED when over a budget. */
  charge(rows: number, bytes = 0): void {
    if (!this.spent) {
      this.work += rows
      this.bytes += bytes
      if (this.work > this.limits.maxWork) this.spent = 'work'
      else if (this.bytes > this.limits.maxResultBytes) this.spent = 'result'
      else if (Date.now() >= this.deadline) this.spent = 'time'
      if (this.spent) this.onExceeded(this.spent)
    }
    if (this.spent) throw this.error(this.spent)
  }

  private error(kind: BudgetKind) {
    const l = this.limits
    const what =
      kind === 'work'
        ? `it touches more than ${l.maxWork} blocks/transactions`
        : kind === 'result'
          ? `its result grows beyond ${l.maxResultBytes} bytes`
          : `it runs longer than ${l.maxQueryMs} ms`
    return gqlError(
      'QUERY_BUDGET_EXCEEDED',
      `query aborted: ${what}; ask for smaller pages (first), fewer lists or fewer aliases, and follow pageInfo.endCursor`,
      { budget: kind },
    )
  }
}
