import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CliError } from './util.js'

/** `devnet --anchor`: a local Ethereum chain (ganache, chain id 1337) the devnet's validator anchors its checkpoints on. */
export interface AnchorChain {
  url: string
  /** Give the validator in `dataDir` a funded anchor key and an `[anchor]` section (every second, 2 confirmations). */
  configure(dataDir: string): Promise<void>
  stop(): Promise<void>
}

/** Start ganache over HTTP on `port` with its chain kept in `<dir>/ethereum` (so a devnet restart keeps the anchors valid). */
export async function startAnchorChain(dir: string, port: number): Promise<AnchorChain> {
  const keyFile = join(dir, 'anchor.key')
  let key: string
  try {
    key = (await readFile(keyFile, 'utf8')).trim()
  } catch {
    key = `0x${randomBytes(32).toString('hex')}`
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 })
  }
  await mkdir(join(dir, 'ethereum'), { recursive: true })
  // Loaded here, not at the top: ganache is large and every other CLI command would pay for it at start.
  const { default: ganache } = await import('ganache')
  const server = ganache.server({
    logging: { quiet: true },
    chain: { chainId: 1337 },
    // A block every second, so anchors get their confirmations without other traffic.
    miner: { blockTime: 1 },
    database: { dbPath: join(dir, 'ethereum') },
    wallet: { accounts: [{ secretKey: key, balance: 10n ** 21n }] },
  } as never)
  try {
    await server.listen(port, '127.0.0.1')
  } catch (err) {
    throw new CliError('ERR_CLI_DEVNET', `cannot start the local Ethereum chain on port ${port}: ${(err as Error).message} (use --anchor-port)`)
  }
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    async configure(dataDir) {
      await writeFile(join(dataDir, 'anchor.key'), `${key}\n`, { mode: 0o600 })
      const file = join(dataDir, 'config.toml')
      const toml = (await readFile(file, 'utf8')).replace('empty_blocks = false', 'empty_blocks = true')
      await writeFile(file, `${toml}\n[anchor]\nrpc_url = "${url}"\nkey_file = "anchor.key"\ninterval_s = 1\nconfirmations = 2\n`)
    },
    async stop() {
      await server.close().catch(() => undefined)
    },
  }
}

