import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Genesis, genesisCheckpoint, genesisHash, validatorKeys } from '@profichain/consensus'
import { equalBytes, type KeyPair } from '@profichain/core'
import { type BrokerLink, brokerClientId, createBrokerLink, hpkePublicKeyFromHex, parseVkey } from '@profichain/global'
import type { FileIngest } from '@profichain/ingest'
import type { BlockTree } from '@profichain/store'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { ChainService } from '../chain/index.js'
import type { CheckpointsService } from '../checkpoints/index.js'
import type { NodeConfig } from '../config.js'
import { loadOrCreateHpkeKey } from './hpke-key.js'
import { createPartners, type PartnersService } from './partners.js'

/**
 * The node's partner wiring (additive to node.ts): on a validator, the partners subsystem over the
 * checkpoints subsystem (block log, checkpoint store, witness, partner registry), the chain service and the
 * store, plus the broker link when `[broker] url` is set. Non-validators get nothing (their checkpoints
 * and anchors would not be trusted by partners).
 */
export interface PartnersWiring {
  service: PartnersService
  link?: BrokerLink
  /** What the API adds for partners (POST /entanglement). */
  routes(): { entanglement(body: Uint8Array): Promise<{ status: number; body: string }> }
  start(): Promise<void>
  stop(): Promise<void>
}

export interface PartnersWiringInit {
  config: NodeConfig
  genesis: Genesis
  anchorBase: () => string
  /** Loop period of the partners subsystem (tests). Default 1000 ms. */
  intervalMs?: number
}

export interface PartnersWiringComponents {
  checkpoints: CheckpointsService
  chain: ChainService
  store: BlockTree
  key: KeyPair
  ingest?: FileIngest
  logger: Logger
  registry?: Registry
}

export async function createPartnersWiring(init: PartnersWiringInit, c: PartnersWiringComponents): Promise<PartnersWiring | undefined> {
  const { config, genesis } = init
  if (!validatorKeys(genesis).some((k) => equalBytes(k, c.key.publicKey))) return undefined
  const registry = c.checkpoints.partners
  let link: BrokerLink | undefined
  if (config.broker.url) {
    const hpke = await loadOrCreateHpkeKey(config.paths.hpkeKey)
    const ca = config.paths.brokerCa ? await readFile(config.paths.brokerCa, 'utf8') : undefined
    link = createBrokerLink(
      {
        url: config.broker.url,
        ...(ca !== undefined ? { ca } : {}),
        clientId: brokerClientId(c.key.publicKey),
        self: { network: c.checkpoints.origin, signingKey: c.key, hpkeKeyPair: hpke },
        partners: () =>
          registry
            .list()
            .filter((p) => p.encryptionKey !== undefined)
            .map((p) => ({ network: p.origin, hpkePublicKey: hpkePublicKeyFromHex(p.encryptionKey as string), signingKeys: p.vkeys.map((v) => parseVkey(v).publicKey) })),
      },
      { logger: c.logger, registry: c.registry },
    )
  }
  const confirmations = Math.max(config.store.confirmations, genesis.consensus.type === 'quorum' ? 1 : genesisCheckpoint(genesis).depth)
  const service = createPartners(
    {
      dir: join(config.dataDir, 'partners'),
      network: genesis.network,
      origin: c.checkpoints.origin,
      genesisHash: genesisHash(genesis),
      ownVkeys: c.checkpoints.vkeys,
      confirmations,
      ...(genesis.consensus.type === 'quorum' ? { finalHeight: () => c.store.finalHeight() } : {}),
      anchorBase: init.anchorBase,
      intervalMs: init.intervalMs,
    },
    {
      partners: registry,
      reloadPartners: () => registry.reload().then(() => undefined),
      checkpoints: c.checkpoints.checkpoints,
      blockLog: c.checkpoints.log,
      witness: c.checkpoints.witness,
      link,
      submitOwn: (items) => c.chain.submitOwn(items),
      store: c.store,
      key: c.key,
      ingest: c.ingest,
      logger: c.logger,
      registry: c.registry,
    },
  )
  return {
    service,
    link,
    routes: () => ({ entanglement: (body) => service.httpEntanglement(body) }),
    async start() {
      await service.start()
      await link?.start()
    },
    async stop() {
      await service.stop()
      await link?.stop()
    },
  }
}
