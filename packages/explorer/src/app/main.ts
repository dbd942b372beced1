import { createNobleBackend, setCrypto } from '@profichain/core'
import { anchorsContent, ethAnchorsIn } from './anchors.js'
import { type Child, fields, h, link, short, table } from './dom.js'
import { getToken, gql, setToken, subscribe } from './gql.js'
import { type Step, STEP_TITLES, verifyFile } from './verify.js'

// The browser has no node:crypto: every hash and signature check runs on the pure-JS backend.
setCrypto(createNobleBackend())

const main = document.getElementById('main') as HTMLElement
const live = document.getElementById('live') as HTMLElement
const PAGE = 20

interface BlockRow { hash: string; height: number; time: string; txCount: number; producer: string; final: boolean }
const BLOCK_ROW = 'hash height time txCount producer final'

function blockRows(blocks: BlockRow[]): Child[][] {
  return blocks.map((b) => [link(`#/block/${b.hash}`, String(b.height), 'height'), link(`#/block/${b.hash}`, short(b.hash)), b.time, b.txCount, short(b.producer), b.final ? 'final' : 'not final'])
}

function view(title: string, ...children: Child[]): void {
  const h1 = h('h1', { tabindex: '-1' }, title)
  main.replaceChildren(h1, ...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'number' ? String(c) : c)))
  document.title = `${title} · Profichain explorer`
  // Focus follows navigation (screen readers announce the new view), unless the user is typing in a field.
  const active = document.activeElement
  if (!(active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement || active instanceof HTMLSelectElement)) h1.focus()
}

function problem(e: unknown): void {
  main.append(h('p', { role: 'alert', class: 'error' }, (e as Error).message))
}

async function home(top?: number): Promise<void> {
  const { status } = await gql<{ status: { network: string; type: string; height: number; headHash: string; finalHeight: number; health: string; peers: number } }>(
    '{ status { network type height headHash finalHeight health peers } }',
  )
  const hi = Math.min(top ?? status.height, status.height)
  const lo = Math.max(0, hi - PAGE + 1)
  const { blocks } = await gql<{ blocks: { nodes: BlockRow[] } }>(`query($f: Int!, $t: Int!) { blocks(from: $f, to: $t, first: ${PAGE}) { nodes { ${BLOCK_ROW} } } }`, { f: lo, t: hi })
  const rows = blocks.nodes.slice().reverse()
  const nav = h(
    'nav',
    { 'aria-label': 'Block pages', class: 'pager' },
    hi < status.height ? link(`#/blocks/${Math.min(status.height, hi + PAGE)}`, '← Newer blocks', 'button') : null,
    lo > 0 ? link(`#/blocks/${lo - 1}`, 'Older blocks →', 'button') : null,
  )
  const list = table(`Blocks ${lo}–${hi} (newest first)`, ['Height', 'Hash', 'Time', 'Records', 'Producer', 'State'], blockRows(rows))
  list.id = 'blocks'
  list.dataset.top = String(hi)
  view(
    'Chain head',
    fields([
      ['Network', status.network],
      ['Node type', status.type],
      ['Head', h('span', {}, link(`#/block/${status.headHash}`, `${status.height} · ${short(status.headHash)}`))],
      ['Final height', String(status.finalHeight)],
      ['Health', status.health],
      ['Peers', String(status.peers)],
    ]),
    list,
    nav,
  )
}

interface TxRow { id: string; kind: string; origin: string; time: string; payloadSize: number; payloadHeld: boolean; meta?: string | null }

async function block(hash: string): Promise<void> {
  const { block: b, checkpoint } = await gql<{
    block: (BlockRow & { prevHash: string; merkleRoot: string; network: string; confirmations: number; canonical: boolean; signatures: Array<{ signer: string }>; transactions: { nodes: TxRow[]; pageInfo: { hasNextPage: boolean } } }) | null
    checkpoint: { origin: string; size: number; root: string; cosignatures: Array<{ witness: string; timestamp: number }> } | null
  }>(
    `query($h: String!) { block(hash: $h) { ${BLOCK_ROW} prevHash merkleRoot network confirmations canonical signatures { signer }
       transactions(first: 100) { nodes { id kind origin time payloadSize payloadHeld } pageInfo { hasNextPage } } }
     checkpoint { origin size root cosignatures { witness timestamp } } }`,
    { h: hash },
  )
  if (!b) return view('Block not found', h('p', {}, `No block ${hash} on this node.`))
  // The block log holds the final canonical blocks 0..size-1: a checkpoint of size > height covers this block.
  const covered = checkpoint && b.canonical && checkpoint.size > b.height
  const cp = h(
    'section',
    { 'aria-labelledby': 'cp-h', id: 'block-checkpoint' },
    h('h2', { id: 'cp-h' }, 'Checkpoint and partner cosignatures'),
    covered
      ? h(
          'div',
          {},
          h('p', {}, `Covered by checkpoint ${checkpoint.size} of ${checkpoint.origin} (leaves 0–${checkpoint.size - 1}), root ${short(checkpoint.root)}. `, link('#/network', 'See the checkpoint', 'more')),
          checkpoint.cosignatures.length > 0
            ? table('Cosigned by partner witnesses', ['Witness', 'Time'], checkpoint.cosignatures.map((c) => [c.witness, new Date(c.timestamp * 1000).toISOString()]))
            : h('p', {}, 'No partner has cosigned this checkpoint yet.'),
        )
      : h('p', {}, 'Not in a signed checkpoint yet: checkpoints cover final blocks, a little behind the head.'),
  )
  view(
    `Block ${b.height}`,
    fields([
      ['Hash', b.hash],
      ['Network', b.network],
      ['Time', b.time],
      ['Previous', b.height > 0 ? link(`#/block/${b.prevHash}`, b.prevHash) : b.prevHash],
      ['Merkle root', b.merkleRoot],
      ['Producer', b.producer],
      ['Signatures', b.signatures.map((s) => short(s.signer)).join(', ') || 'none'],
      ['State', `${b.canonical ? 'canonical' : 'not canonical (fork)'}, ${b.final ? 'final' : 'not final'}, ${b.confirmations} confirmations`],
    ]),
    table(`Records in block ${b.height}${b.transactions.pageInfo.hasNextPage ? ' (first 100)' : ''}`, ['txId', 'Kind', 'Origin', 'Time', 'Size', 'Payload'], b.transactions.nodes.map(txRow)),
    cp,
  )
}

function txRow(t: TxRow): Child[] {
  return [link(`#/tx/${t.id}`, short(t.id)), t.kind, short(t.origin), t.time, `${t.payloadSize} B`, t.payloadHeld ? 'archived' : 'stripped']
}

async function tx(id: string): Promise<void> {
  const { transaction: t } = await gql<{
    transaction: (TxRow & { network: string; seq: number; payloadHash: string; metadata: Array<{ key: string; value: string }>; blockHash: string; height: number; index: number; confirmations: number; payloadUrl: string; signature: string }) | null
  }>('query($id: String!) { transaction(id: $id) { id kind origin time payloadSize payloadHeld network seq payloadHash metadata { key value } blockHash height index confirmations payloadUrl signature } }', { id })
  if (!t) return view('Record not found', h('p', {}, `No canonical record ${id} on this node.`))
  view(
    'Record',
    fields([
      ['txId', t.id],
      ['Kind', t.kind],
      ['Origin', t.origin],
      ['Sequence', String(t.seq)],
      ['Time', t.time],
      ['Payload hash (SHA-256)', t.payloadHash],
      ['Payload size', `${t.payloadSize} bytes`],
      [
        'Payload state',
        h('span', { id: 'payload-state' }, t.payloadHeld ? 'archived: this node keeps the payload ' : 'stripped: this node keeps only the hash and the signed record (retention policy)', t.payloadHeld ? link(t.payloadUrl, 'download', 'more') : null),
      ],
      ['Block', link(`#/block/${t.blockHash}`, `${t.height} · ${short(t.blockHash)}`)],
      ['Position', `leaf ${t.index}, ${t.confirmations} confirmations`],
      ['Signature', short(t.signature)],
    ]),
    t.metadata.length > 0 ? table('Metadata', ['Key', 'Value'], t.metadata.map((m) => [m.key, m.value])) : h('p', {}, 'No metadata.'),
  )
}

async function search(q: string): Promise<void> {
  const s = q.trim().toLowerCase()
  if (/^\d{1,15}$/.test(s)) {
    const { block: b } = await gql<{ block: { hash: string } | null }>('query($h: Int!) { block(height: $h) { hash } }', { h: Number(s) })
    if (b) return void (location.hash = `#/block/${b.hash}`)
  } else if (/^[0-9a-f]{64}$/.test(s)) {
    const r = await gql<{ block: { hash: string } | null; transaction: { id: string } | null; transactions: { nodes: Array<{ id: string }> } }>(
      'query($h: String!) { block(hash: $h) { hash } transaction(id: $h) { id } transactions(filter: { payloadHash: $h }, first: 20) { nodes { id } } }',
      { h: s },
    )
    if (r.block) return void (location.hash = `#/block/${r.block.hash}`)
    if (r.transaction) return void (location.hash = `#/tx/${r.transaction.id}`)
    if (r.transactions.nodes.length === 1) return void (location.hash = `#/tx/${r.transactions.nodes[0].id}`)
    if (r.transactions.nodes.length > 1)
      return view('Search results', h('p', {}, `${r.transactions.nodes.length} records carry payload hash ${s}:`), h('ul', {}, ...r.transactions.nodes.map((n) => h('li', {}, link(`#/tx/${n.id}`, n.id)))))
  } else {
    return view('Search', h('p', { role: 'alert' }, 'Search takes a block height, or 64 hex characters: a block hash, a txId or a payload hash.'))
  }
  view('Nothing found', h('p', { role: 'alert' }, `No block, record or payload ${s} on this node.`))
}

async function devices(): Promise<void> {
  const { devices: ds } = await gql<{ devices: Array<{ publicKey: string; deviceId: string; owner: string; registeredHeight: number; registeredBlock: string; revoked: boolean; revokedHeight: number | null; revokeReason: string | null; replaysRefused: number; revokedUseRefused: number }> }>(
    '{ devices(first: 100) { publicKey deviceId owner registeredHeight registeredBlock revoked revokedHeight revokeReason replaysRefused revokedUseRefused } }',
  )
  view(
    'Devices',
    ds.length === 0
      ? h('p', {}, 'No device is registered on this chain.')
      : table(
          'Registered devices and their audit summary',
          ['Device', 'Public key', 'Owner', 'Registered', 'State', 'Replays refused', 'Use after revocation refused'],
          ds.map((d) => [d.deviceId, short(d.publicKey), short(d.owner), link(`#/block/${d.registeredBlock}`, String(d.registeredHeight), 'height'), d.revoked ? `revoked at ${d.revokedHeight}${d.revokeReason ? ` (${d.revokeReason})` : ''}` : 'active', d.replaysRefused, d.revokedUseRefused]),
        ),
  )
}

async function network(): Promise<void> {
  const r = await gql<{
    checkpoint: { origin: string; size: number; root: string; note: string; cosignatures: Array<{ witness: string; timestamp: number; line: string }> } | null
    partners: Array<{ name: string; origin: string; threshold: number; vkeys: string[]; witnessUrl: string | null; broker: string | null; witnessed: { size: number; root: string; note: string } | null }>
    witnessEvidence: Array<{ origin: string; kind: string; at: number; previous: string; offered: string }>
  }>('{ checkpoint { origin size root note cosignatures { witness timestamp line } } partners { name origin threshold vkeys witnessUrl broker witnessed { size root note } } witnessEvidence(first: 20) { origin kind at previous offered } }')
  const cp = r.checkpoint
  view(
    'Partners and checkpoints',
    h(
      'section',
      { 'aria-labelledby': 'own-h', id: 'own-checkpoint' },
      h('h2', { id: 'own-h' }, 'Latest checkpoint of this chain'),
      cp
        ? h(
            'div',
            {},
            fields([
              ['Origin', cp.origin],
              ['Size (final blocks)', String(cp.size)],
              ['Root', cp.root],
            ]),
            table('Cosignatures', ['Witness', 'Time'], cp.cosignatures.map((c) => [c.witness, new Date(c.timestamp * 1000).toISOString()])),
            h('details', {}, h('summary', {}, 'Signed note'), h('pre', {}, cp.note)),
          )
        : h('p', {}, 'No checkpoint signed yet.'),
    ),
    h(
      'section',
      { 'aria-labelledby': 'partners-h' },
      h('h2', { id: 'partners-h' }, 'Partner networks this node witnesses'),
      r.partners.length === 0
        ? h('p', {}, 'No partners.')
        : table('Partners', ['Name', 'Origin', 'Threshold', 'Link', 'Last cosigned checkpoint'], r.partners.map((p) => [p.name, p.origin, `${p.threshold} of ${p.vkeys.length}`, p.broker ?? p.witnessUrl ?? '—', p.witnessed ? `size ${p.witnessed.size}, root ${short(p.witnessed.root)}` : 'none yet'])),
    ),
    h(
      'section',
      { 'aria-labelledby': 'evidence-h' },
      h('h2', { id: 'evidence-h' }, 'Witness evidence (contradicting partner checkpoints)'),
      r.witnessEvidence.length === 0
        ? h('p', {}, 'None: no partner has shown two contradicting checkpoints.')
        : table('Evidence', ['Origin', 'Kind', 'Refused at', 'Notes'], r.witnessEvidence.map((e) => [e.origin, e.kind, new Date(e.at).toISOString(), h('details', {}, h('summary', {}, 'both signed notes'), h('pre', {}, `${e.previous}\n${e.offered}`))])),
    ),
  )
}

async function anchors(): Promise<void> {
  view('Public anchors', ...(await anchorsContent()))
}

function renderSteps(list: HTMLOListElement, steps: Step[]): void {
  list.replaceChildren(
    ...steps.map((s) =>
      h('li', { class: `step ${s.status}`, 'data-step': s.id, 'data-status': s.status }, h('span', { class: 'mark', 'aria-hidden': 'true' }, s.status === 'ok' ? '✔' : s.status === 'fail' ? '✘' : '…'), h('strong', {}, s.title), h('span', { class: 'sr-only' }, ` ${s.status === 'ok' ? 'passed' : s.status === 'fail' ? 'failed' : 'not run'}: `), h('span', { class: 'detail' }, s.detail)),
    ),
  )
}

function verifyView(): void {
  const fileInput = h('input', { type: 'file', id: 'verify-file', name: 'file', required: true })
  const receiptInput = h('input', { type: 'file', id: 'verify-receipt', name: 'receipt', accept: '.json,application/json' })
  const steps = h('ol', { id: 'verify-steps', 'aria-live': 'polite' })
  const outcome = h('p', { id: 'verify-outcome', role: 'status' })
  // A receipt with a public (eth) anchor: that step is never checked here (the browser does not ask the public chain), so never green.
  const eth = h('p', { id: 'verify-eth', class: 'step unchecked', 'data-step': 'eth', 'data-status': 'unchecked', hidden: true })
  renderSteps(steps, STEP_TITLES.map(([id, title]) => ({ id, title, status: 'skipped', detail: 'not run' })))
  const zone = h('div', { class: 'dropzone', id: 'dropzone' }, 'Or drop the file here (and its receipt: a second file ending in .json).')
  zone.addEventListener('dragover', (e) => {
    e.preventDefault()
    zone.classList.add('over')
  })
  zone.addEventListener('dragleave', () => zone.classList.remove('over'))
  zone.addEventListener('drop', (e) => {
    e.preventDefault()
    zone.classList.remove('over')
    const files = [...(e.dataTransfer?.files ?? [])]
    const rc = files.length > 1 ? files.find((f) => /\.json$/i.test(f.name) && f.name.includes('.chp')) ?? files[1] : undefined
    const data = files.find((f) => f !== rc)
    // The dropped files replace whatever the inputs held, so the form never shows another file than the one checked.
    fileInput.value = ''
    receiptInput.value = ''
    if (data) void run(data, rc)
  })
  const run = async (data: File, rc?: File): Promise<void> => {
    outcome.textContent = `Verifying ${data.name} in this browser…`
    const txs = new Set<string>()
    eth.hidden = true
    const result = await verifyFile(new Uint8Array(await data.arrayBuffer()), rc ? await rc.text() : undefined, (s) => renderSteps(steps, s), (r) => ethAnchorsIn(r).forEach((t) => txs.add(t)))
    const failed = result.find((s) => s.status === 'fail')
    if (txs.size > 0) {
      eth.replaceChildren(
        h('span', { class: 'mark', 'aria-hidden': 'true' }, '–'),
        h('strong', {}, 'public anchor: not checked in the browser (use profichain verify --eth-rpc)'),
        h('span', { class: 'sr-only' }, ' not checked: '),
        h('span', { class: 'detail' }, `the receipt names Ethereum tx ${[...txs].join(', ')}; run profichain verify <file> --receipt <receipt> --eth-rpc <url> to check it on the public chain`),
      )
      eth.hidden = false
    }
    outcome.textContent = failed ? `${data.name}: NOT verified — ${failed.title} failed.` : `${data.name}: verified, every step passed${txs.size > 0 ? ' (its public anchor is not checked in the browser)' : ''}.`
    outcome.className = failed ? 'fail' : 'ok'
  }
  const form = h(
    'form',
    { id: 'verify-form' },
    h('p', {}, 'The file is hashed here, with the pure-JS crypto of @profichain/core: only its SHA-256 is sent to look the record up. Nothing is uploaded.'),
    h('div', { class: 'row' }, h('label', { for: 'verify-file' }, 'File to verify'), fileInput),
    h('div', { class: 'row' }, h('label', { for: 'verify-receipt' }, 'Its receipt (optional, native JSON)'), receiptInput),
    zone,
    h('button', { type: 'submit', id: 'verify-button' }, 'Verify'),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const data = fileInput.files?.[0]
    if (!data) {
      outcome.textContent = 'Choose a file first.'
      fileInput.focus()
      return
    }
    void run(data, receiptInput.files?.[0])
  })
  view('Verify a file', form, outcome, steps, eth)
}

async function route(): Promise<void> {
  const parts = location.hash.replace(/^#\/?/, '').split('/')
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) a.toggleAttribute('aria-current', a.getAttribute('href') === `#/${parts[0]}` || (parts[0] === '' && a.getAttribute('href') === '#/'))
  try {
    switch (parts[0]) {
      case 'block':
        return await block(decodeURIComponent(parts[1] ?? ''))
      case 'tx':
        return await tx(decodeURIComponent(parts[1] ?? ''))
      case 'search':
        return await search(decodeURIComponent(parts[1] ?? ''))
      case 'devices':
        return await devices()
      case 'network':
        return await network()
      case 'verify':
        return verifyView()
      case 'anchors':
        return await anchors()
      case 'blocks':
        return await home(Number(parts[1]))
      default:
        return await home()
    }
  } catch (e) {
    view('Could not load', null)
    problem(e)
  }
}

// Header controls: search, token login, live new blocks.
const searchForm = document.getElementById('search-form') as HTMLFormElement
searchForm.addEventListener('submit', (e) => {
  e.preventDefault()
  const q = (document.getElementById('search') as HTMLInputElement).value.trim()
  if (q) location.hash = `#/search/${encodeURIComponent(q)}`
})
const tokenForm = document.getElementById('token-form') as HTMLFormElement
const tokenInput = document.getElementById('token') as HTMLInputElement
const tokenState = document.getElementById('token-state') as HTMLElement
function showToken(): void {
  tokenState.textContent = getToken() ? 'token set for this tab' : 'no token'
}
tokenForm.addEventListener('submit', (e) => {
  e.preventDefault()
  setToken(tokenInput.value.trim() || undefined)
  tokenInput.value = ''
  showToken()
  startLive()
  void route()
})
showToken()

let liveAbort: AbortController | undefined
function startLive(): void {
  liveAbort?.abort()
  const ac = (liveAbort = new AbortController())
  live.textContent = 'live: connecting'
  subscribe<{ newBlocks: BlockRow }>(
    `subscription { newBlocks { ${BLOCK_ROW} } }`,
    ({ newBlocks: b }) => {
      live.textContent = `live: block ${b.height}`
      const list = document.getElementById('blocks') as HTMLTableElement | null
      // Only the first page follows the head; older pages stay put.
      if (list && location.hash.replace(/^#\/?/, '') === '' && list.tBodies[0]) {
        const row = h('tr', { class: 'new' }, ...blockRows([b])[0].map((c) => h('td', {}, c)))
        list.tBodies[0].prepend(row)
        while (list.tBodies[0].rows.length > PAGE) list.tBodies[0].deleteRow(-1)
      }
    },
    ac.signal,
    () => {
      live.textContent = 'live: connected'
    },
  ).then(
    () => {
      if (!ac.signal.aborted) live.textContent = 'live: ended'
    },
    (e: Error) => {
      if (!ac.signal.aborted) live.textContent = `live: off (${e.message})`
    },
  )
}

window.addEventListener('hashchange', () => void route())
startLive()
void route()
