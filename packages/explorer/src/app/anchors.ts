import { fields, h, link, short, table } from './dom.js'
import { gql } from './gql.js'

/** One confirmed public-chain anchor as GraphQL `publicAnchors` returns it (docs/anchoring.md). */
export interface PublicAnchorRow {
  kind: string
  chainId: number
  origin: string
  size: number
  root: string
  txHash: string
  from: string
  nonce: number
  ethBlockNumber: number
  ethBlockHash: string
  confirmations: number
  gasUsed: string
  effectiveGasPrice: string
  anchoredAt: string
}

const ANCHOR_FIELDS = 'kind chainId origin size root txHash from nonce ethBlockNumber ethBlockHash confirmations gasUsed effectiveGasPrice anchoredAt'

/** gasUsed × effectiveGasPrice (decimal wei strings) as "N wei (X ETH)"; "unknown" when not decimal. */
export function anchorCost(gasUsed: string, effectiveGasPrice: string): string {
  if (!/^\d{1,40}$/.test(gasUsed) || !/^\d{1,40}$/.test(effectiveGasPrice)) return 'unknown'
  const wei = BigInt(gasUsed) * BigInt(effectiveGasPrice)
  const unit = 10n ** 18n
  const frac = (wei % unit).toString().padStart(18, '0').replace(/0+$/, '')
  return `${wei} wei (${wei / unit}${frac ? `.${frac}` : ''} ETH)`
}

/**
 * The public anchors a receipt names (tx hashes): a Chainpoint receipt's nested `eth_anchor_branch`
 * (anchor `{type: "eth", anchor_id}`) or a native receipt's `ethAnchors`. Never throws on odd input.
 */
export function ethAnchorsIn(receipt: unknown): string[] {
  const out: string[] = []
  const r = receipt as { ethAnchors?: unknown; branches?: unknown } | null
  if (!r || typeof r !== 'object') return out
  if (Array.isArray(r.ethAnchors)) for (const e of r.ethAnchors.slice(0, 16)) if (typeof (e as { txHash?: unknown })?.txHash === 'string') out.push((e as { txHash: string }).txHash)
  const walk = (branches: unknown, depth: number): void => {
    if (!Array.isArray(branches) || depth > 4) return
    for (const b of branches.slice(0, 16) as Array<{ label?: unknown; ops?: unknown; branches?: unknown } | null>) {
      if (!b || typeof b !== 'object') continue
      if (b.label === 'eth_anchor_branch' && Array.isArray(b.ops))
        for (const op of b.ops as Array<{ anchors?: Array<{ type?: unknown; anchor_id?: unknown }> } | null>)
          for (const a of op?.anchors ?? []) if (a?.type === 'eth' && typeof a.anchor_id === 'string') out.push(a.anchor_id.startsWith('0x') ? a.anchor_id : `0x${a.anchor_id}`)
      walk(b.branches, depth + 1)
    }
  }
  walk(r.branches, 0)
  return [...new Set(out.map((x) => x.toLowerCase()))]
}

/** The "Anchors" view's content: a table of confirmed anchors, or a plain sentence when there are none. */
export async function anchorsContent(): Promise<Node[]> {
  const { publicAnchors: list } = await gql<{ publicAnchors: PublicAnchorRow[] }>(`{ publicAnchors(first: 50) { ${ANCHOR_FIELDS} } }`)
  const intro = h('p', {}, 'Checkpoints of this chain written into a public blockchain (Ethereum calldata). Only confirmed anchors are listed, newest first. The browser does not ask the public chain: check an anchor with ', h('code', {}, 'profichain verify --eth-rpc <url>'), '.')
  if (list.length === 0)
    return [
      h(
        'p',
        { id: 'anchors-none' },
        'No public anchors. This node does no public anchoring (no [anchor] rpc_url in its config.toml, docs/anchoring.md), or its first anchor has not reached its confirmation depth yet.',
      ),
    ]
  const latest = list[0]
  const t = table(
    `Public anchors (${list.length}${list.length === 50 ? ', the newest 50' : ''})`,
    ['Checkpoint size', 'Root', 'Chain', 'Transaction', 'Block', 'State', 'Cost', 'Anchored'],
    list.map((a) => [
      a.size > 0 ? h('span', {}, link(`#/search/${a.size - 1}`, String(a.size), 'height'), ` (blocks 0–${a.size - 1})`) : '0',
      h('span', { title: a.root }, short(a.root)),
      `${a.kind} ${a.chainId}`,
      h('span', { class: 'txhash' }, a.txHash),
      h('span', { title: a.ethBlockHash }, `${a.ethBlockNumber} · ${short(a.ethBlockHash)}`),
      `confirmed (${a.confirmations} confirmations)`,
      anchorCost(a.gasUsed, a.effectiveGasPrice),
      a.anchoredAt,
    ]),
  )
  t.id = 'anchors'
  return [
    intro,
    fields([
      ['Origin', latest.origin],
      ['Latest anchored checkpoint', `size ${latest.size}, root ${latest.root}`],
      ['Sender', `${latest.from} (nonce ${latest.nonce})`],
    ]),
    t,
  ]
}
