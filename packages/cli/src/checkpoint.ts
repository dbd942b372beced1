// `profichain checkpoint`: the network's latest signed checkpoint (DESIGN §11) and its note verifier keys.
import { join, resolve } from 'node:path'
import { createConsensus, genesisCheckpoint, genesisOrigin, loadGenesis, validatorKeys } from '@profichain/consensus'
import { ProfichainError, readKeyFile } from '@profichain/core'
import { createBlockLog, createCheckpointStore, formatCosignerVkey, networkVkeys } from '@profichain/global'
import { loadConfig } from '@profichain/node'
import { BlockTree } from '@profichain/store'
import type { Command } from 'commander'
import { apiBase, apiToken } from './api-client.js'
import { CliError } from './util.js'

/** The latest checkpoint with its cosignatures, read from a stopped node's store. */
async function checkpointFromDataDir(dataDir: string): Promise<string | undefined> {
  const config = await loadConfig(join(resolve(dataDir), 'config.toml'))
  const genesis = await loadGenesis(config.paths.genesis)
  let tree: BlockTree
  try {
    tree = await BlockTree.open({ path: config.paths.db, genesis, consensus: createConsensus(genesis), genesisSource: config.paths.genesis })
  } catch (err) {
    if (err instanceof ProfichainError && err.code === 'ERR_STORE_LOCKED')
      throw new CliError('ERR_CLI_NODE_RUNNING', `the node in ${dataDir} is running; ask its API instead: profichain checkpoint --api URL`)
    throw err
  }
  try {
    const kv = tree.globalBuckets()
    const log = await createBlockLog(
      { depth: genesisCheckpoint(genesis).depth },
      {
        kv,
        chain: {
          headHeight: () => tree.head().height,
          hashAtHeight: (h) => tree.getHashAtHeight(h),
          setFloor: async () => {},
        },
      },
    )
    return await createCheckpointStore({ origin: genesisOrigin(genesis) }, { kv, log }).served()
  } finally {
    await tree.close()
  }
}

async function checkpointFromApi(api: string, token?: string): Promise<string | undefined> {
  const base = apiBase(api)
  const headers: Record<string, string> = { accept: 'text/plain' }
  const bearer = apiToken(token)
  if (bearer) headers.authorization = `Bearer ${bearer}`
  let res: Response
  try {
    res = await fetch(`${base}/checkpoint`, { headers, signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    throw new CliError('ERR_CLI_API_UNREACHABLE', `cannot reach the node API at ${base}: ${(err as Error).message}`, { url: base }, { cause: err })
  }
  const text = await res.text()
  if (res.status === 404) return undefined
  if (res.status !== 200)
    throw new CliError('ERR_CLI_API_RESPONSE', `GET ${base}/checkpoint answered ${res.status}: ${text.trim().slice(0, 200)}`, { url: base, status: res.status })
  return text
}

export function registerCheckpointCommand(program: Command): void {
  program
    .command('checkpoint')
    .description("print the network's latest signed checkpoint (C2SP signed note, with every witness cosignature)")
    .option('--api <url>', 'ask a running node (its API base URL)')
    .option('--data-dir <dir>', "read a stopped node's data dir")
    .option('--token <token>', 'API bearer token (or PROFICHAIN_API_TOKEN)')
    .option('--vkeys', "print the network's note verifier keys instead, one per line (from the genesis; needs --data-dir)")
    .option('--witness-vkey', "print this node's witness cosigner vkey (what partners configure; needs --data-dir)")
    .addHelpText(
      'after',
      '\nExample:\n  profichain checkpoint --api http://127.0.0.1:8545\n  profichain checkpoint --data-dir ./node1 --vkeys > acme.vkeys\n',
    )
    .action(async (o: { api?: string; dataDir?: string; token?: string; vkeys?: boolean; witnessVkey?: boolean }) => {
      if ((o.api === undefined) === (o.dataDir === undefined))
        throw new CliError('ERR_CLI_USAGE', 'give exactly one of --api URL (a running node) or --data-dir D (a stopped node)')
      if (o.vkeys || o.witnessVkey) {
        if (o.dataDir === undefined)
          throw new CliError('ERR_CLI_USAGE', '--vkeys and --witness-vkey read the genesis and key of a data dir: use --data-dir D')
        const config = await loadConfig(join(resolve(o.dataDir), 'config.toml'))
        const genesis = await loadGenesis(config.paths.genesis)
        const origin = genesisOrigin(genesis)
        const lines: string[] = []
        if (o.vkeys) lines.push(...networkVkeys(origin, validatorKeys(genesis)))
        if (o.witnessVkey) lines.push(formatCosignerVkey(origin, (await readKeyFile(config.paths.key)).publicKey))
        process.stdout.write(`${lines.join('\n')}\n`)
        return
      }
      const note = o.api !== undefined ? await checkpointFromApi(o.api, o.token) : await checkpointFromDataDir(o.dataDir as string)
      if (note === undefined)
        throw new CliError('ERR_CLI_NOT_FOUND', 'no checkpoint signed yet (the block log grows once blocks are final; validators sign every checkpoint interval)')
      process.stdout.write(note)
    })
}
