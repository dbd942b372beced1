// Load generator of the evaluation: writer loops that drop complete JSONL files into thin nodes' inboxes at a
// fixed record rate, and remember where each record went (inbox-relative path + line) for loss accounting.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { drop, sleep } from '../bench/lib.mjs'

/**
 * One JSONL line of exactly `bytes` bytes: a small header and `parts` sub-records of equal size (the papers'
 * "100 B × k records per transaction" is parts = k, bytes = 100·k). Unique by tag, file and line.
 */
export function recordLine(tag, file, line, bytes, parts = 1) {
  const head = `{"t":"${tag}","f":${file},"i":${line},"r":[`
  const tail = ']}'
  const overhead = head.length + tail.length + 3 * parts - 1 // quotes and commas
  const fill = Math.max(parts, bytes - overhead)
  const each = Math.floor(fill / parts)
  const out = []
  for (let p = 0; p < parts; p++) out.push(`"${'x'.repeat(p === parts - 1 ? fill - each * (parts - 1) : each)}"`)
  return `${head}${out.join(',')}${tail}`
}

/**
 * Feed records for `seconds` into `targets` ([{ node, inbox, dir, rate }], rate in records/s per target).
 * Each target is one writer loop: every `periodMs` (or every 1/rate s if slower) it drops one file holding the
 * records due since its last file (write to .tmp, then rename). Returns every file written with its drop time.
 */
export async function feed({ targets, seconds, recordBytes = 1024, parts = 1, tag, periodMs = 100, maxInflight = 64 }) {
  for (const t of targets) if (t.dir) await mkdir(join(t.inbox, t.dir), { recursive: true })
  const t0 = Date.now()
  const endAt = t0 + seconds * 1000
  const state = targets.map((t) => {
    const period = Math.max(periodMs, t.rate > 0 ? 1000 / t.rate : periodMs)
    const total = Math.round(t.rate * seconds)
    return { t, period, total, sent: 0, next: t0 + Math.random() * period }
  })
  const files = []
  let seq = 0
  let maxLagMs = 0
  const inflight = new Set()
  const write = async (s, n, final) => {
    const f = seq++
    const lines = []
    for (let i = 0; i < n; i++) lines.push(recordLine(tag, f, i + 1, recordBytes, parts))
    const name = `${tag}-${String(f).padStart(7, '0')}.jsonl`
    const path = s.t.dir ? `${s.t.dir}/${name}` : name
    await drop(s.t.inbox, path, `${lines.join('\n')}\n`)
    files.push({ node: s.t.node, path, lines: n, droppedAt: Date.now(), final })
  }
  for (;;) {
    const now = Date.now()
    let pending = false
    for (const s of state) {
      if (s.sent >= s.total) continue
      pending = true
      if (now < s.next) continue
      maxLagMs = Math.max(maxLagMs, now - s.next)
      const due = now >= endAt ? s.total : Math.min(s.total, Math.floor((s.t.rate * (now - t0)) / 1000))
      const n = due - s.sent
      s.next += s.period
      if (s.next < now) s.next = now + s.period // a writer that fell behind does not burst to catch up
      if (n <= 0) continue
      s.sent = due
      const p = write(s, n, now >= endAt)
      inflight.add(p)
      p.finally(() => inflight.delete(p))
      if (inflight.size >= maxInflight) await Promise.race(inflight)
    }
    if (!pending) break
    await sleep(Math.max(1, Math.min(10, Math.min(...state.filter((s) => s.sent < s.total).map((s) => s.next)) - Date.now())))
  }
  await Promise.all(inflight)
  const t1 = Date.now()
  const sent = files.reduce((a, f) => a + f.lines, 0)
  return { files, sent, t0, t1, offeredPerS: sent / Math.max(0.001, (t1 - t0) / 1000), maxLagMs }
}
