/** The GraphQL schema (documented with examples in docs/api.md). Hashes, keys and ids are lowercase hex. */
export const typeDefs = /* GraphQL */ `
"""An integer up to 2^53-1, as a JSON number (timestamps in ms, sizes)."""
scalar Long
"""Any JSON value (receipts)."""
scalar JSON

enum ReceiptFormat {
  "Chainpoint v5 JSON, verifiable with chainpoint-parse; its anchor URI is this node's /networks/<id>/blocks/<height>/hash"
  CHAINPOINT
  "Profichain receipt: the proof plus stripped tx and signed header, verifiable offline with the genesis"
  NATIVE
}

enum TxKind {
  record
  anchor
  "registers a device key (docs/devices.md)"
  device
  "revokes a device key (tx kind device-revoke)"
  device_revoke
}

type Query {
  "What this node is and where its chain stands."
  status: Status!
  "A block by canonical height or by hash (hash may name a non-canonical block). Exactly one argument."
  block(height: Int, hash: String): Block
  "Canonical blocks in ascending height, from..to inclusive (default: genesis..head), paged with first/after."
  blocks(from: Int, to: Int, first: Int = 20, after: String): BlockConnection!
  "A canonical transaction by txId."
  transaction(id: String!): Transaction
  "Canonical transactions matching the filter, newest first. Without payloadHash this scans blocks from the head down, bounded per page: follow pageInfo.endCursor while hasNextPage."
  transactions(filter: TxFilter, first: Int = 20, after: String): TransactionConnection!
  "The inclusion receipt of a canonical transaction."
  receipt(txId: String!, format: ReceiptFormat = CHAINPOINT): JSON
  "Connected peers."
  peers: [Peer!]!
  "Equivocation evidence this node holds (quorum): validators caught co-signing two blocks at one height, newest first (by at, then height). Empty when the node keeps no evidence (other consensus)."
  evidence(first: Int = 20): [Equivocation!]!
}

"Two co-signatures by one validator on two different blocks at one height (quorum equivocation)."
type Equivocation {
  "The validator's public key (hex)."
  validator: String!
  height: Int!
  "The two block hashes it signed at that height."
  blockHashes: [String!]!
  "ms since the Unix epoch when this node caught it (null when the node does not keep the time)"
  at: Long
}

type Subscription {
  "Each block that becomes canonical (several on a reorg), in height order."
  newBlocks: Block!
  "This node's own transactions once confirmed (their receipts are written)."
  committedTxs: CommittedTxs!
}

type Status {
  "thin | producer | archive | full"
  type: String!
  nodeId: String!
  peerId: String
  network: String!
  height: Int!
  headHash: String!
  finalHeight: Int!
  peers: Int!
  mempoolSize: Int!
  outboxSize: Int!
  syncing: Boolean!
  "synced | syncing"
  syncState: String!
  version: String!
  "ready | degraded (the node runs but cannot do part of its job: see problems)"
  health: String!
  "Why the node is degraded; empty when ready."
  problems: [Problem!]!
  "Device ingest API (TLS 1.3): SHA-256 of its certificate (64 hex), what clients pin; null when the API is off."
  ingestFingerprint: String
  "Device ingest API address host:port; null when off."
  ingestAddress: String
}

"One reason the node is degraded."
type Problem {
  "Stable machine-readable code, e.g. DISK_FULL."
  code: String!
  message: String!
  "ms since the Unix epoch when it started"
  since: Float
}

type HeaderSignature {
  signer: String!
  signature: String!
}

type Block {
  hash: String!
  height: Int!
  network: String!
  version: Int!
  "ms since the Unix epoch"
  timestamp: Long!
  "ISO 8601"
  time: String!
  prevHash: String!
  merkleRoot: String!
  txCount: Int!
  difficulty: Long!
  nonce: Long!
  producer: String!
  signatures: [HeaderSignature!]!
  "On the canonical chain (a block fetched by hash may be on a fork)."
  canonical: Boolean!
  "head height - height + 1 when canonical, else 0"
  confirmations: Int!
  final: Boolean!
  txIds: [String!]!
  transactions(first: Int = 20, after: String): TransactionConnection!
}

type BlockEdge {
  cursor: String!
  node: Block!
}

type PageInfo {
  hasNextPage: Boolean!
  endCursor: String
}

type BlockConnection {
  edges: [BlockEdge!]!
  nodes: [Block!]!
  pageInfo: PageInfo!
}

type MetadataEntry {
  key: String!
  value: String!
}

type Transaction {
  id: String!
  version: Int!
  network: String!
  kind: TxKind!
  origin: String!
  seq: Long!
  timestamp: Long!
  time: String!
  payloadHash: String!
  payloadSize: Long!
  metadata: [MetadataEntry!]!
  "One metadata value, or null."
  meta(key: String!): String
  signature: String!
  block: Block!
  blockHash: String!
  height: Int!
  "Position in the block (the Merkle leaf index)."
  index: Int!
  confirmations: Int!
  "Whether this node keeps the payload (retention policy)."
  payloadHeld: Boolean!
  "The payload as base64 when held and within the inline cap; otherwise an error saying why (see payloadUrl)."
  payload: String
  "Path of the REST route streaming the raw payload."
  payloadUrl: String!
}

input MetadataFilter {
  key: String!
  "Omit to match any value of the key."
  value: String
}

input TxFilter {
  "Origin public key (hex)."
  origin: String
  kind: TxKind
  "SHA-256 of the payload (hex): an indexed lookup."
  payloadHash: String
  "Every entry must match."
  metadata: [MetadataFilter!]
  "Tx timestamp range in ms, inclusive."
  since: Long
  until: Long
}

type TxEdge {
  cursor: String!
  node: Transaction!
}

type TransactionConnection {
  edges: [TxEdge!]!
  nodes: [Transaction!]!
  pageInfo: PageInfo!
  "Blocks looked at for this page (bounded; a page may hold fewer than first items and still have a next page)."
  scannedBlocks: Int!
}

type Peer {
  peerId: String!
  publicKey: String!
  addrs: [String!]!
  direction: String!
}

type CommittedTxs {
  txIds: [String!]!
  transactions: [Transaction!]!
}
`
