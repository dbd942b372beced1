import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { GossipSub } from '@libp2p/gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import type { KeyPair } from '@profichain/core'
import { createLibp2p } from 'libp2p'
import type { NetworkConfig } from './config.js'
import { gossipsubService } from './gossipsub-adapter.js'
import { libp2pPrivateKey } from './keys.js'
import type { NetworkMetrics } from './metrics.js'
import type { NetworkLogger } from './types.js'

/** The libp2p node of a network: TCP, Noise, Yamux, identify, gossipsub. */
export type Node = Libp2p<{ identify: Identify; pubsub: GossipSub }>

/** What the parts of a running network share (owned by P2PNetwork). */
export interface NetworkContext {
  readonly config: NetworkConfig
  readonly log: NetworkLogger
  readonly metrics: NetworkMetrics
  /** Our PeerId string. */
  readonly selfId: string
  /** The libp2p node while the network runs. */
  node(): Node | undefined
  running(): boolean
  /** Aborts when the network stops (a fresh signal per start). */
  stopSignal(): AbortSignal
}

/** Create (not start) the libp2p node; `deny` is the connection gater (members only, no banned peers). */
export async function createHost(
  config: NetworkConfig,
  key: KeyPair,
  topics: string[],
  deny: (peer: PeerId, hook: 'dial' | 'inbound' | 'outbound') => boolean,
): Promise<Node> {
  return (await createLibp2p({
    start: false,
    privateKey: libp2pPrivateKey(key),
    addresses: { listen: config.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: (p) => deny(p, 'dial'),
      // First inbound hook that knows the PeerId (after Noise); see the spike FINDINGS on responder gating.
      denyInboundEncryptedConnection: (p) => deny(p, 'inbound'),
      denyOutboundEncryptedConnection: (p) => deny(p, 'outbound'),
    },
    services: {
      identify: identify(),
      pubsub: gossipsubService({ topics, maxMessageBytes: config.maxMessageBytes }),
    },
  })) as Node
}
