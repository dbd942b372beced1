import { OpcuaError } from './errors.js'

/**
 * OPC UA PubSub JSON (OPC 10000-14 §7.2.5, JSON message mapping): one NetworkMessage per record, its
 * `Messages` are the record's samples, one DataSetMessage per sample (a delta frame with one field).
 */

/** A DataValue in OPC UA JSON encoding (OPC 10000-6 §5.4.2.18); StatusCode is always present (0 = Good). */
export interface JsonDataValue {
  Value: unknown
  SourceTimestamp?: string
  /** Sub-millisecond part of SourceTimestamp, in units of 10 ps (OPC 10000-6), when the server gives one. */
  SourcePicoseconds?: number
  ServerTimestamp?: string
  ServerPicoseconds?: number
  StatusCode: number
}

export interface JsonDataSetMessage {
  DataSetWriterId: number
  DataSetWriterName?: string
  SequenceNumber: number
  Timestamp: string
  MessageType: 'ua-deltaframe' | 'ua-keyframe'
  Payload: Record<string, JsonDataValue>
}

export interface JsonNetworkMessage {
  MessageId: string
  MessageType: 'ua-data'
  PublisherId: string
  Messages: JsonDataSetMessage[]
}

/** First line of every bridge file: the file chain (DESIGN §14). Not an OPC UA message. */
export interface BridgeFileHeader {
  profichainOpcua: 1
  type: 'file'
  publisherId: string
  /** 1, 2, 3… per publisher, never reused. */
  fileSeq: number
  /** SHA-256 (hex) of the previous file's bytes, '' for the first file. */
  prevFileHash: string
  createdAt: string
}

/** A gap: the bridge was not receiving from `server` between `lostAt` and `restoredAt` (samples of that time are missing). */
export interface BridgeGapMarker {
  profichainOpcua: 1
  type: 'gap'
  publisherId: string
  server: string
  reason: 'connection-lost' | 'bridge-restart'
  lostAt: string
  restoredAt: string
}

export type BridgeLine =
  | { kind: 'data'; message: JsonNetworkMessage }
  | { kind: 'file'; header: BridgeFileHeader }
  | { kind: 'gap'; gap: BridgeGapMarker }

/** Longest line the decoder reads (a batch of 1000 samples is ~250 kB). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStr = (v: unknown): v is string => typeof v === 'string'
const isUInt = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max

function bad(why: string): never {
  throw new OpcuaError('ERR_OPCUA_LINE', `not a bridge line: ${why}`)
}

/** Decode one line of a bridge file (auditors, tests). Throws `ERR_OPCUA_LINE` on anything else. */
export function parseBridgeLine(line: string): BridgeLine {
  if (line.length > MAX_LINE_BYTES) bad(`longer than ${MAX_LINE_BYTES} characters`)
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    bad('invalid JSON')
  }
  if (!isObj(v)) bad('not a JSON object')
  if (v.profichainOpcua === 1) {
    if (v.type === 'file') {
      if (!isStr(v.publisherId) || !isUInt(v.fileSeq, Number.MAX_SAFE_INTEGER) || v.fileSeq < 1) bad('file header without publisherId/fileSeq')
      if (!isStr(v.prevFileHash) || !/^([0-9a-f]{64})?$/.test(v.prevFileHash)) bad('file header: prevFileHash is not 64 hex digits or empty')
      if (!isStr(v.createdAt)) bad('file header without createdAt')
      return { kind: 'file', header: v as unknown as BridgeFileHeader }
    }
    if (v.type === 'gap') {
      if (!isStr(v.publisherId) || !isStr(v.server) || !isStr(v.lostAt) || !isStr(v.restoredAt)) bad('gap marker fields missing')
      if (v.reason !== 'connection-lost' && v.reason !== 'bridge-restart') bad('gap marker: unknown reason')
      return { kind: 'gap', gap: v as unknown as BridgeGapMarker }
    }
    bad('unknown profichainOpcua line type')
  }
  if (v.MessageType !== 'ua-data' || !isStr(v.MessageId) || !isStr(v.PublisherId) || !Array.isArray(v.Messages)) bad('not a ua-data NetworkMessage')
  for (const m of v.Messages as unknown[]) {
    if (!isObj(m)) bad('a DataSetMessage is not an object')
    if (!isUInt(m.DataSetWriterId, 0xffff) || !isUInt(m.SequenceNumber, 0xffffffff) || !isStr(m.Timestamp) || !isObj(m.Payload)) {
      bad('a DataSetMessage lacks DataSetWriterId/SequenceNumber/Timestamp/Payload')
    }
    for (const dv of Object.values(m.Payload)) {
      if (!isObj(dv) || !('Value' in dv) || !isUInt(dv.StatusCode, 0xffffffff)) bad('a Payload field is not a DataValue with Value and StatusCode')
    }
  }
  return { kind: 'data', message: v as unknown as JsonNetworkMessage }
}
