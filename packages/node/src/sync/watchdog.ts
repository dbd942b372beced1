import { type Block, blockHash, equalBytes } from '@profichain/core'
import type { Logger } from 'pino'
import { Gauge, type Registry } from 'prom-client'
import type { Startable } from '../types.js'

/**
 * Liveness watchdog: says (warn log once, gauge `profichain_node_stalled{part}` = 1) when a part of the node
 * that must keep moving has not, and says so again (info, gauge 0) when it moves again. It repairs nothing;
 * it makes the stalls that are otherwise silent (the API keeps answering) visible in logs and /metrics:
 * - `chain`: a block handed to the chain service (gossip, sync) has waited longer than `stallMs` for its
 *   outcome (a promise that never settles, a lock never released);
 * - `sync`: one catch-up round has run longer than `stallMs` (a request or an import that never ends);
 * - `finality` (quorum): the head is above the final block and the final block has not moved for
 *   `finalityStallMs` (a branch nobody may extend, votes that never arrive, a final block the others left).
 *   The head may move meanwhile: a validator alone on a branch still seals a block now and then.
 */
export type WatchedPart = 'chain' | 'sync' | 'finality'

export interface WatchdogInit {
  /** How often to look (ms). Default 5000. */
  intervalMs?: number
  /** A block import or sync round older than this is a stall (ms). Default 60 s. */
  stallMs?: number
  /** Quorum: head above final and the final block not moving for this long is a stall (ms). Default 60 s. */
  finalityStallMs?: number
}

export interface WatchdogComponents {
  /** Age (ms) of the oldest block import still waiting for its outcome; 0 when none waits. */
  chainWaitMs: () => number
  /** Age (ms) of the running sync round; 0 when none runs. */
  syncRoundMs: () => number
  /** Quorum only: head and final heights. */
  heights?: () => { head: number; final: number }
  logger: Logger
  registry?: Registry
  now?: () => number
}

export interface Watchdog extends Startable {
  /** Look once (the timer calls it); returns the parts stalled now. */
  check(): WatchedPart[]
}

/**
 * Wrap a chain's `addBlock` so the watchdog can see how long the oldest import has been waiting (gossip and
 * sync share one chain service; its queue is serial, so the oldest waiting import is the stuck one), and the
 * sync client which blocks are being imported already (a block gossip brought, not to be fetched again).
 */
export function trackImports<O extends unknown[], R>(
  addBlock: (block: Block, ...rest: O) => Promise<R>,
  now: () => number = Date.now,
): { addBlock: (block: Block, ...rest: O) => Promise<R>; oldestWaitMs: () => number; importing: (hash: Uint8Array) => boolean } {
  const waiting = new Map<number, { at: number; block: Block }>()
  let next = 0
  return {
    addBlock: (block: Block, ...rest: O) => {
      const id = next++
      waiting.set(id, { at: now(), block })
      return addBlock(block, ...rest).finally(() => waiting.delete(id))
    },
    // Insertion order: the first entry is the oldest.
    oldestWaitMs: () => {
      const first = waiting.values().next()
      return first.done ? 0 : now() - first.value.at
    },
    // The chain's queue: a few blocks at most (blockHash is memoised per header).
    importing: (hash: Uint8Array) => {
      for (const { block } of waiting.values()) if (equalBytes(blockHash(block.header), hash)) return true
      return false
    },
  }
}

class LivenessWatchdog implements Watchdog {
  private timer?: NodeJS.Timeout
  private readonly stalled = new Set<WatchedPart>()
  private readonly gauge?: Gauge<'part'>
  private lastFinal?: { final: number; since: number }

  constructor(
    private readonly init: WatchdogInit,
    private readonly c: WatchdogComponents,
  ) {
    if (c.registry) {
      this.gauge = new Gauge({
        name: 'profichain_node_stalled',
        help: 'A part of the node that must keep moving has not (1) — chain: a block import waits too long; sync: a catch-up round runs too long; finality: head above final and neither moving',
        labelNames: ['part'],
        registers: [c.registry],
      })
      for (const part of ['chain', 'sync', 'finality'] as const) this.gauge.set({ part }, 0)
    }
  }

  start(): void {
    this.timer = setInterval(() => this.check(), this.init.intervalMs ?? 5000)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
  }

  check(): WatchedPart[] {
    const now = (this.c.now ?? Date.now)()
    const stallMs = this.init.stallMs ?? 60_000
    const chainMs = this.c.chainWaitMs()
    this.set('chain', chainMs > stallMs, { waitingMs: chainMs })
    const syncMs = this.c.syncRoundMs()
    this.set('sync', syncMs > stallMs, { roundMs: syncMs })
    if (this.c.heights) {
      const h = this.c.heights()
      // The clock starts when the final block moves, or when the head leaves it (head = final: nothing to do).
      if (!this.lastFinal || this.lastFinal.final !== h.final || h.head <= h.final) this.lastFinal = { final: h.final, since: now }
      const still = now - this.lastFinal.since
      this.set('finality', h.head > h.final && still > (this.init.finalityStallMs ?? 60_000), { head: h.head, final: h.final, stillMs: still })
    }
    return [...this.stalled]
  }

  private set(part: WatchedPart, stalled: boolean, detail: Record<string, number>): void {
    if (stalled === this.stalled.has(part)) return
    this.gauge?.set({ part }, stalled ? 1 : 0)
    if (stalled) {
      this.stalled.add(part)
      this.c.logger.warn({ part, ...detail }, `watchdog: ${part} has not progressed`)
    } else {
      this.stalled.delete(part)
      this.c.logger.info({ part, ...detail }, `watchdog: ${part} progresses again`)
    }
  }
}

/** Create (not start) the liveness watchdog. */
export function createWatchdog(init: WatchdogInit, components: WatchdogComponents): Watchdog {
  return new LivenessWatchdog(init, components)
}
