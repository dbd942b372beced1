import { badInput } from './errors.js'
import type { ApiContextValue } from './schema.js'

/** Public anchors (DESIGN §13, docs/anchoring.md): the node's confirmed Ethereum anchors, newest first. */
export const anchorTypeDefs = /* GraphQL */ `
extend type Query {
  "Checkpoints this node anchored on a public chain (confirmed), newest first; empty without [anchor] rpc_url."
  publicAnchors(first: Int = 20): [PublicAnchor!]!
}

"A checkpoint root written into an Ethereum transaction's calldata (docs/anchoring.md)."
type PublicAnchor {
  "Public chain kind: eth."
  kind: String!
  chainId: Int!
  "The network's log origin, checkpoint size (block-log leaves) and root (hex)."
  origin: String!
  size: Int!
  root: String!
  "Transaction hash (0x…), its calldata (hex), sender, nonce."
  txHash: String!
  calldata: String!
  from: String!
  nonce: Int!
  ethBlockNumber: Int!
  ethBlockHash: String!
  "Depth when the anchor was confirmed."
  confirmations: Int!
  "Gas used and effective gas price (wei, decimal strings)."
  gasUsed: String!
  effectiveGasPrice: String!
  anchoredAt: String!
}
`

/** One confirmed anchor as the node hands it to the API. */
export interface ApiPublicAnchor {
  kind: string
  chainId: number
  origin: string
  size: number
  root: string
  txHash: string
  calldata: string
  from: string
  nonce: number
  ethBlockNumber: number
  ethBlockHash: string
  confirmations: number
  gasUsed: string
  effectiveGasPrice: string
  anchoredAt: string
}

export const anchorResolvers = {
  Query: {
    publicAnchors: async (_: unknown, args: { first?: number | null }, { components }: ApiContextValue): Promise<ApiPublicAnchor[]> => {
      const first = args.first ?? 20
      if (!Number.isInteger(first) || first < 0 || first > 1000) throw badInput('first must be an integer in 0..1000', { argument: 'first' })
      return components.publicAnchors ? await components.publicAnchors(first) : []
    },
  },
}
