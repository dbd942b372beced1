// Loss accounting and latency of the evaluation: read every committed tx of a height range from the full node's
// GraphQL API and match each sent record (inbox-relative path + line) to exactly one committed tx.
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { gql, metric, percentile, waitFor } from '../bench/lib.mjs'

const BLOCK_TXS = `query($h:Int,$after:String){ block(height:$h){ height timestamp txCount
  transactions(first:100, after:$after){ nodes { id timestamp path: meta(key:"path") line: meta(key:"line") } pageInfo { hasNextPage endCursor } } } }`

/** Every canonical tx in heights from..to: [{ id, timestamp, path, line, height, blockTs }]. */
export async function committedTxs(api, from, to) {
  const out = []
  const blocks = []
  for (let h = from; h <= to; h++) {
    let after = null
    for (;;) {
      const b = (await gql(api, BLOCK_TXS, { h, after })).block
      if (after === null) blocks.push({ height: b.height, timestamp: b.timestamp, txCount: b.txCount })
      for (const t of b.transactions.nodes) out.push({ ...t, height: b.height, blockTs: b.timestamp })
      if (!b.transactions.pageInfo.hasNextPage) break
      after = b.transactions.pageInfo.endCursor
    }
  }
  return { txs: out, blocks }
}

/** Sum of a metric over several nodes. */
export async function metricSum(apis, name) {
  let s = 0
  for (const a of apis) s += await metric(a, name)
  return s
}

/**
 * Wait until every record of a feed is ingested, committed and receipted (or `timeoutMs` passes: whatever is
 * missing then counts as lost). Baselines are the metric values before the feed.
 */
export async function settle({ devnet, base, sent, timeoutMs }) {
  const thinApis = devnet.thins.map((n) => n.api)
  let last = {}
  const ok = await waitFor(
    async () => {
      const ingested = (await metricSum(thinApis, 'profichain_ingest_records_total')) - base.ingested
      const committed = (await metric(devnet.full.api, 'profichain_chain_txs_total')) - base.committed
      const outbox = await metricSum(thinApis, 'profichain_outbox_txs')
      last = { ingested, committed, outbox }
      return ingested >= sent && committed >= sent && outbox === 0
    },
    { timeoutMs, everyMs: 250, what: `${sent} records committed` },
  ).catch(() => false)
  return { settled: Boolean(ok), ...last }
}

/** Metric baselines before a feed. */
export async function baseline(devnet) {
  const thinApis = devnet.thins.map((n) => n.api)
  return {
    height: (await gql(devnet.full.api, '{ status { height } }')).status.height,
    ingested: await metricSum(thinApis, 'profichain_ingest_records_total'),
    committed: await metric(devnet.full.api, 'profichain_chain_txs_total'),
  }
}

/**
 * Match sent files (from load.feed) to committed txs. Returns counts { sent, matched, lost, duplicated, unexpected }
 * and per-record latencies (ms): dropToBlock, txToBlock; per file: dropToReceipt (receipt file's last write).
 */
export async function account({ devnet, feedResult, fromHeight, tag }) {
  const head = (await gql(devnet.full.api, '{ status { height } }')).status.height
  const { txs, blocks } = await committedTxs(devnet.full.api, fromHeight, head)
  const byKey = new Map()
  let unexpected = 0
  for (const t of txs) {
    if (!t.path?.includes(tag)) {
      unexpected++
      continue
    }
    const k = `${t.path}#${t.line}`
    const l = byKey.get(k)
    if (l) l.push(t)
    else byKey.set(k, [t])
  }
  const dropToBlock = []
  const txToBlock = []
  const blocksAfterDrop = []
  let matched = 0
  let lost = 0
  let duplicated = 0
  const lostKeys = []
  const blockTimes = blocks.map((b) => b.timestamp)
  for (const f of feedResult.files) {
    for (let i = 1; i <= f.lines; i++) {
      const k = `${f.path}#${i}`
      const hit = byKey.get(k)
      byKey.delete(k)
      if (!hit) {
        lost++
        if (lostKeys.length < 20) lostKeys.push(k)
        continue
      }
      if (hit.length > 1) duplicated += hit.length - 1
      matched++
      const t = hit[0]
      dropToBlock.push(t.blockTs - f.droppedAt)
      txToBlock.push(t.blockTs - t.timestamp)
      // Which block after the drop holds it (1 = the first block sealed after the file appeared).
      blocksAfterDrop.push(blockTimes.filter((ts) => ts >= f.droppedAt && ts <= t.blockTs).length)
    }
  }
  // Committed records of this run that were never sent (would mean a wrong line split or a replay).
  for (const hits of byKey.values()) unexpected += hits.length
  const dropToReceipt = []
  for (const f of feedResult.files) {
    const node = devnet.thins.find((n) => n.name === f.node)
    // A whole file has `<path>.chp.json`; a line-mode file appends to `<path>.chp.jsonl`.
    for (const ext of ['.chp.json', '.chp.jsonl']) {
      try {
        const st = await stat(join(node.dataDir, 'receipts', `${f.path}${ext}`))
        dropToReceipt.push(st.mtimeMs - f.droppedAt)
        break
      } catch {
        // no receipt: counted below
      }
    }
  }
  const receiptsMissing = feedResult.files.length - dropToReceipt.length
  const txsInRange = txs.length
  const usedBlocks = blocks.filter((b) => b.txCount > 0)
  return {
    counts: { sent: feedResult.sent, matched, lost, duplicated, unexpected, files: feedResult.files.length, receiptsMissing, txsInRange },
    lostKeys,
    latency: { dropToBlock, txToBlock, dropToReceipt, blocksAfterDrop },
    blocks: { total: blocks.length, withTxs: usedBlocks.length, maxTxs: Math.max(0, ...blocks.map((b) => b.txCount)), firstTs: usedBlocks[0]?.timestamp, lastTs: usedBlocks.at(-1)?.timestamp },
  }
}

/** p50/p90/p99/max/mean of a list (ms). */
export function dist(xs) {
  if (xs.length === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN, min: NaN }
  return {
    n: xs.length,
    min: xs.reduce((a, b) => Math.min(a, b), Infinity),
    p50: percentile(xs, 50),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
    max: xs.reduce((a, b) => Math.max(a, b), -Infinity),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
  }
}

/** Check a receipt file holds one entry per line (used by the quick mode's assertions). */
export async function receiptEntries(devnet, file) {
  const node = devnet.thins.find((n) => n.name === file.node)
  const base = join(node.dataDir, 'receipts', file.path)
  // Line mode: append-only JSON lines, one {line, txId, receipt} each (a re-issued txId counts once).
  const lines = await readFile(`${base}.chp.jsonl`, 'utf8').catch(() => undefined)
  if (lines !== undefined) {
    const ids = new Set()
    for (const l of lines.split('\n')) {
      try {
        ids.add(JSON.parse(l).txId)
      } catch {}
    }
    return ids.size
  }
  const j = JSON.parse(await readFile(`${base}.chp.json`, 'utf8'))
  return Array.isArray(j) ? j.length : 1
}
