/** One thing that keeps the node from doing its job fully; shown in `status`, `/healthz` and the log. */
export interface Problem {
  /** Stable machine-readable code, e.g. 'DISK_FULL', 'RECEIPTS_FAILING', 'HEAD_BEHIND_ACK'. */
  code: string
  message: string
  /** When it was first seen (ms since epoch). */
  since?: number
}

/** A part of the node that can report whether it currently works. */
export interface HealthSource {
  /** Component name, prefixed to the message ('store', 'ingest', 'producer', ...). */
  name: string
  health(): { ok: boolean; code?: string; message?: string }
}

/**
 * Collects the current problems of the node's parts. A problem keeps the time it was first seen until it
 * clears, so `since` tells an operator how long the node has been degraded.
 */
export class HealthMonitor {
  private readonly sources: HealthSource[] = []
  private readonly fixed = new Map<string, Problem>()
  private readonly firstSeen = new Map<string, number>()

  add(source: HealthSource): void {
    this.sources.push(source)
  }

  /** A problem that stays until `clear(code)` (e.g. a failed start-up check, failing receipts). */
  raise(code: string, message: string): void {
    const old = this.fixed.get(code)
    this.fixed.set(code, { code, message, since: old?.since ?? Date.now() })
  }

  clear(code: string): void {
    this.fixed.delete(code)
  }

  problems(): Problem[] {
    const out: Problem[] = [...this.fixed.values()]
    const seen = new Set<string>()
    for (const s of this.sources) {
      let h: ReturnType<HealthSource['health']>
      try {
        h = s.health()
      } catch (err) {
        h = { ok: false, code: 'HEALTH_CHECK_FAILED', message: String(err) }
      }
      if (h.ok) continue
      const code = h.code ?? 'UNHEALTHY'
      const key = `${s.name}:${code}`
      seen.add(key)
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, Date.now())
      out.push({ code, message: `${s.name}: ${h.message ?? code}`, since: this.firstSeen.get(key) })
    }
    for (const key of this.firstSeen.keys()) if (!seen.has(key)) this.firstSeen.delete(key)
    return out
  }
}
