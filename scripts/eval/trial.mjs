// One measured run: baseline, feed, settle, account. Shared by every experiment of scripts/eval/run.mjs.
import { account, baseline, dist, settle } from './account.mjs'
import { feed } from './load.mjs'

let runSeq = 0

/** Split `rate` records/s over the devnet's thin nodes' inboxes (one writer loop each, top-level folder). */
export function nodeTargets(devnet, rate) {
  return devnet.thins.map((n) => ({ node: n.name, inbox: n.inbox, dir: '', rate: rate / devnet.thins.length }))
}

/** `devices` writer loops, each its own inbox subfolder `dev-NNN/` at `perDevice` records/s, spread over the thin nodes. */
export function deviceTargets(devnet, devices, perDevice) {
  return Array.from({ length: devices }, (_, i) => {
    const n = devnet.thins[i % devnet.thins.length]
    return { node: n.name, inbox: n.inbox, dir: `dev-${String(i + 1).padStart(3, '0')}`, rate: perDevice }
  })
}

/**
 * Feed `targets` for `seconds`, wait for everything to be committed and receipted, match every record.
 * Returns { rate, seconds, recordBytes, parts, counts, lat{dropToBlock,txToBlock,dropToReceipt}, ... }.
 */
export async function trial({ devnet, targets, seconds, recordBytes = 1024, parts = 1, label = '', log = () => {}, keepSamples = false }) {
  const tag = `r${process.pid}x${runSeq++}`
  const base = await baseline(devnet)
  const rate = targets.reduce((a, t) => a + t.rate, 0)
  const fed = await feed({ targets, seconds, recordBytes, parts, tag })
  const timeoutMs = Math.max(60_000, 2 * seconds * 1000 + 4 * devnet.blockTimeMs)
  const st = await settle({ devnet, base, sent: fed.sent, timeoutMs })
  const acc = await account({ devnet, feedResult: fed, fromHeight: base.height + 1, tag })
  // Records over the feed time, or over the time to drain when the chain fell behind (the last block, less one
  // block time: a chain that keeps up seals the last records at most one block after the feed ends).
  const spanS = acc.blocks.lastTs !== undefined ? Math.max(fed.t1 - fed.t0, acc.blocks.lastTs - fed.t0 - devnet.blockTimeMs) / 1000 : NaN
  const r = {
    label,
    rate,
    seconds,
    recordBytes,
    parts,
    origins: targets.length,
    blockTimeMs: devnet.blockTimeMs,
    settled: st.settled,
    offeredPerS: fed.offeredPerS,
    committedPerS: acc.counts.matched / spanS,
    bytesPerS: (acc.counts.matched * recordBytes) / spanS,
    feederMaxLagMs: fed.maxLagMs,
    counts: acc.counts,
    lostKeys: acc.lostKeys,
    blocks: acc.blocks,
    lat: { dropToBlock: dist(acc.latency.dropToBlock), txToBlock: dist(acc.latency.txToBlock), dropToReceipt: dist(acc.latency.dropToReceipt) },
    blocksAfterDrop: histogram(acc.latency.blocksAfterDrop),
  }
  if (keepSamples) r.samples = acc.latency
  log(
    `${label} ${Math.round(rate)} rec/s × ${recordBytes} B (${parts} part${parts > 1 ? 's' : ''}), ${targets.length} origin(s), ${seconds} s: ` +
      `sent ${r.counts.sent} matched ${r.counts.matched} lost ${r.counts.lost} dup ${r.counts.duplicated} unexpected ${r.counts.unexpected}; ` +
      `${Math.round(r.committedPerS)} rec/s committed; drop→block p50 ${fmt(r.lat.dropToBlock.p50)} p99 ${fmt(r.lat.dropToBlock.p99)} max ${fmt(r.lat.dropToBlock.max)} ms; ` +
      `drop→receipt p50 ${fmt(r.lat.dropToReceipt.p50)} ms${st.settled ? '' : ' (NOT SETTLED)'}`,
  )
  return r
}

const fmt = (x) => (Number.isFinite(x) ? Math.round(x) : '-')

/** Counts of small integers: { "1": n1, "2": n2, ... }. */
function histogram(xs) {
  const h = {}
  for (const x of xs) h[x] = (h[x] ?? 0) + 1
  return h
}

/** Zero loss, no duplicate, nothing unexpected, every file receipted, p99 drop→block within two block times + 2 s. */
export function sustained(r) {
  const c = r.counts
  return r.settled && c.lost === 0 && c.duplicated === 0 && c.unexpected === 0 && c.receiptsMissing === 0 && c.matched > 0 && r.lat.dropToBlock.p99 <= 2 * r.blockTimeMs + 2000
}
