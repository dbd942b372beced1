// Block log and witness routes (DESIGN §11, docs/api.md "Checkpoints and witness"): public like anchor hash
// URIs (they reveal only hashes; add-checkpoint is authenticated by the partner's note signatures).
import type { IncomingMessage, ServerResponse } from 'node:http'

/** What the node gives the API for its block log and witness (absent: the routes answer 404). */
export interface CheckpointApi {
  /** The latest signed checkpoint with every cosignature collected, as a signed note; undefined before the first. */
  checkpoint(): Promise<string | undefined>
  /** Current block log size (final blocks from genesis). */
  logSize(): number
  /** RFC 9162 consistency proof between two sizes (1 ≤ old ≤ new ≤ logSize), and both roots. */
  consistency(oldSize: number, newSize: number): Promise<{ proof: Uint8Array[]; oldRoot: Uint8Array; newRoot: Uint8Array }>
  /** RFC 9162 inclusion proof of the block at `height` in the log of `size` leaves. */
  inclusion(
    height: number,
    size: number,
  ): Promise<{ blockHash: Uint8Array; leafHash: Uint8Array; root: Uint8Array; proof: Uint8Array[] }>
  /** c2sp.org/tlog-witness add-checkpoint: status, content type and body exactly as the spec says. */
  addCheckpoint(body: string): Promise<{ status: number; contentType: string; body: string }>
  /** GraphQL `checkpoint`: the latest signed checkpoint and the cosignatures collected on it. */
  latest(): Promise<CheckpointInfo | undefined>
  /** GraphQL `partners`: the partner networks this node witnesses, with what it last cosigned for each. */
  partners(): Promise<PartnerInfo[]>
  /** GraphQL `witnessEvidence`: partner checkpoints refused as contradicting the one cosigned before, newest first. */
  witnessEvidence(origin: string | undefined, first: number): Promise<WitnessEvidenceInfo[]>
  /** POST /entanglement (DESIGN §11): a partner's entanglement proof (CBOR) over HTTP; absent: 404. */
  entanglement?(body: Uint8Array): Promise<{ status: number; body: string }>
}

export interface CheckpointInfo {
  origin: string
  size: number
  /** Root hash, hex. */
  root: string
  /** The signed note with every cosignature (what GET /checkpoint serves). */
  note: string
  cosignatures: Array<{ witness: string; timestamp: number; line: string }>
}

export interface PartnerInfo {
  name: string
  origin: string
  vkeys: string[]
  threshold: number
  witnessUrl?: string
  broker?: string
  encryptionKey?: string
  /** The partner checkpoint this node last cosigned. */
  witnessed?: { size: number; root: string; note: string }
}

export interface WitnessEvidenceInfo {
  origin: string
  kind: 'fork' | 'inconsistent'
  at: number
  previous: string
  offered: string
}

export const CHECKPOINT_PATHS = ['/checkpoint', '/checkpoint/proof', '/blocklog/inclusion', '/add-checkpoint', '/entanglement'] as const
export type CheckpointPath = (typeof CHECKPOINT_PATHS)[number]

/** Largest add-checkpoint body accepted (a checkpoint with 100 signatures and 63 proof lines is well below). */
export const MAX_ADD_CHECKPOINT_BYTES = 256 * 1024

export function isCheckpointPath(path: string): path is CheckpointPath {
  return (CHECKPOINT_PATHS as readonly string[]).includes(path)
}

const TEXT = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json; charset=utf-8'
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

type Send = (res: ServerResponse, status: number, type: string, body: string, headers?: Record<string, string>) => void

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name)
  if (v === null || !/^(0|[1-9][0-9]{0,15})$/.test(v)) return undefined
  const n = Number(v)
  return Number.isSafeInteger(n) ? n : undefined
}

async function readBytes(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of req) {
    n += (c as Buffer).byteLength
    if (n > max) return undefined
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}

async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return (await readBytes(req, max))?.toString('utf8')
}

/** Serve one of CHECKPOINT_PATHS. */
export async function serveCheckpointRoute(
  api: CheckpointApi | undefined,
  path: CheckpointPath,
  method: string,
  req: IncomingMessage,
  url: URL,
  res: ServerResponse,
  send: Send,
): Promise<void> {
  const problem = (status: number, message: string, headers: Record<string, string> = {}) =>
    send(res, status, TEXT, `${message}\n`, headers)
  const want = path === '/add-checkpoint' || path === '/entanglement' ? 'POST' : 'GET'
  if (method !== want && !(want === 'GET' && method === 'HEAD'))
    return problem(405, `${method} is not allowed on ${path}`, { allow: want === 'GET' ? 'GET, HEAD' : 'POST' })
  if (api === undefined) return problem(404, `this node keeps no block log (${path})`)
  switch (path) {
    case '/checkpoint': {
      const note = await api.checkpoint()
      if (note === undefined) return problem(404, 'no checkpoint signed yet: the block log is empty or this network has not signed one yet')
      return send(res, 200, TEXT, note, { 'cache-control': 'no-store' })
    }
    case '/checkpoint/proof': {
      const oldSize = intParam(url, 'old')
      const newSize = intParam(url, 'new')
      const size = api.logSize()
      if (oldSize === undefined || newSize === undefined || oldSize < 1 || oldSize > newSize || newSize > size)
        return send(
          res,
          400,
          JSON_TYPE,
          JSON.stringify({ error: `expected ?old=M&new=N with 1 ≤ M ≤ N ≤ ${size} (the block log size)`, size }),
        )
      const r = await api.consistency(oldSize, newSize)
      return send(
        res,
        200,
        JSON_TYPE,
        JSON.stringify({ old: oldSize, new: newSize, oldRoot: hex(r.oldRoot), newRoot: hex(r.newRoot), proof: r.proof.map(hex) }),
      )
    }
    case '/blocklog/inclusion': {
      const height = intParam(url, 'height')
      const size = intParam(url, 'size') ?? api.logSize()
      const logSize = api.logSize()
      if (height === undefined || size < 1 || size > logSize || height >= size)
        return send(
          res,
          400,
          JSON_TYPE,
          JSON.stringify({ error: `expected ?height=H&size=N with H < N ≤ ${logSize} (the block log size)`, size: logSize }),
        )
      const r = await api.inclusion(height, size)
      return send(
        res,
        200,
        JSON_TYPE,
        JSON.stringify({
          height,
          size,
          blockHash: hex(r.blockHash),
          leafHash: hex(r.leafHash),
          root: hex(r.root),
          proof: r.proof.map(hex),
        }),
      )
    }
    case '/add-checkpoint': {
      const body = await readBody(req, MAX_ADD_CHECKPOINT_BYTES)
      if (body === undefined) return problem(413, `request body larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`)
      const r = await api.addCheckpoint(body)
      return send(res, r.status, r.contentType, r.body)
    }
    case '/entanglement': {
      if (!api.entanglement) return problem(404, 'this node takes no entanglement proofs (not a validator with partners)')
      const body = await readBytes(req, MAX_ADD_CHECKPOINT_BYTES)
      if (body === undefined) return problem(413, `request body larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes`)
      const r = await api.entanglement(new Uint8Array(body))
      return problem(r.status, r.body)
    }
  }
}
