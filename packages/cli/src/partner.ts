import { join, resolve } from 'node:path'
import { toHex } from '@profichain/core'
import { genesisOrigin, loadGenesis, validatorKeys } from '@profichain/consensus'
import { formatCosignerVkey, networkVkeys, type Partner, parsePartner, readPartnersFile, writePartnersFile } from '@profichain/global'
import { loadConfig, loadOrCreateHpkeKey } from '@profichain/node'
import { type Command, Option } from 'commander'
import { CliError } from './util.js'

/** What another company needs to partner with this network (printed by `partner add` and `partner list`). */
export interface SelfInfo {
  name: string
  origin: string
  vkeys: string[]
  threshold: number
  encryptionKey: string
  broker?: string
  cosignerVkeys: string[]
}

export async function selfInfo(dataDir: string): Promise<SelfInfo> {
  const config = await loadConfig(join(resolve(dataDir), 'config.toml'))
  const genesis = await loadGenesis(config.paths.genesis)
  const origin = genesisOrigin(genesis)
  const validators = validatorKeys(genesis)
  const hpke = await loadOrCreateHpkeKey(config.paths.hpkeKey)
  return {
    name: genesis.network,
    origin,
    vkeys: networkVkeys(origin, validators),
    threshold: 1,
    encryptionKey: toHex(hpke.publicKey),
    ...(config.broker.url ? { broker: config.broker.url } : {}),
    cosignerVkeys: validators.map((k) => formatCosignerVkey(origin, k)),
  }
}

function selfText(s: SelfInfo): string {
  const vkeys = s.vkeys.map((v) => ` --vkey ${v}`).join('')
  return (
    `This network (give these to the other company; they run the command below on their validator):\n` +
    `  origin          ${s.origin}\n` +
    s.vkeys.map((v) => `  vkey            ${v}\n`).join('') +
    `  encryption key  ${s.encryptionKey}\n` +
    (s.broker ? `  broker          ${s.broker}\n` : '') +
    `\n  profichain partner add --data-dir <their data dir> --name ${s.name} --origin ${s.origin}${vkeys} --encryption-key ${s.encryptionKey}${s.broker ? ` --broker ${s.broker}` : ''}\n`
  )
}

function describe(p: Partner): string {
  const via = [p.broker ? `broker ${p.broker}` : p.encryptionKey ? 'broker (this node’s)' : '', p.witnessUrl ? `witness ${p.witnessUrl}` : ''].filter(Boolean).join(', ')
  return `${p.name.padEnd(16)} ${p.origin}  threshold ${p.threshold}/${p.vkeys.length}${via ? `  via ${via}` : ''}`
}

/** Register `partner add|list|remove` on the program. */
export function registerPartner(program: Command): void {
  const partner = program
    .command('partner')
    .description('partner networks: they witness (countersign) our chain and we witness theirs (DESIGN §11)')
    .addHelpText(
      'after',
      '\nExample:\n  profichain partner list --data-dir ./node1\n  profichain partner add --data-dir ./node1 --name acme --origin acme.example/profichain/plant-1 --vkey <vkey> --encryption-key <hex>\n  profichain partner remove --data-dir ./node1 --name acme\n',
    )
  partner
    .command('add')
    .description('add (or replace, by name) a partner network in <data-dir>/partners.json, then print what the partner needs from us')
    .requiredOption('--data-dir <dir>', 'node data dir (a validator of this network)')
    .requiredOption('--name <name>', 'local name of the partner, e.g. acme')
    .requiredOption('--origin <origin>', "the partner's log origin (its `profichain checkpoint` first line)")
    .addOption(new Option('--vkey <vkey...>', "the partner's note vkeys (its `profichain checkpoint --vkeys`), one or more").makeOptionMandatory())
    .option('--threshold <k>', 'how many of its vkeys must sign a checkpoint (default 1)', (v) => Number.parseInt(v, 10))
    .option('--encryption-key <hex>', "its X25519 public key (64 hex) for the broker link (its `partner list` prints it)")
    .option('--broker <url>', 'MQTT broker where it is reached (mqtts://…, wss://…)')
    .option('--witness-url <url>', 'its API base URL when reachable directly (POST <url>/add-checkpoint)')
    .addHelpText(
      'after',
      `
Partnering two companies A and B (each runs this on its own validator, with the other's values):
  B: profichain partner list --data-dir ./b     # prints B's origin, vkeys and encryption key
  A: profichain partner add --data-dir ./a --name b --origin <B origin> --vkey <B vkey> --encryption-key <B key>
  B: profichain partner add --data-dir ./b --name a --origin <A origin> --vkey <A vkey> --encryption-key <A key>
Both nodes need [broker] url = "mqtts://…" in config.toml (the same broker). A running node picks the file up within seconds.`,
    )
    .action(async (o) => {
      const dataDir = resolve(o.dataDir)
      let p: Partner
      try {
        p = parsePartner(
          {
            name: o.name,
            origin: o.origin,
            vkeys: o.vkey,
            ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
            ...(o.encryptionKey !== undefined ? { encryptionKey: String(o.encryptionKey).toLowerCase() } : {}),
            ...(o.broker !== undefined ? { broker: o.broker } : {}),
            ...(o.witnessUrl !== undefined ? { witnessUrl: o.witnessUrl } : {}),
          },
          'partner',
        )
      } catch (err) {
        throw new CliError('ERR_CLI_USAGE', (err as Error).message)
      }
      if (!p.encryptionKey && !p.witnessUrl) throw new CliError('ERR_CLI_USAGE', 'give --encryption-key (to reach it over the broker) or --witness-url (directly), or both')
      const self = await selfInfo(dataDir)
      if (p.origin === self.origin) throw new CliError('ERR_CLI_USAGE', `${p.origin} is this network's own origin`)
      const list = (await readPartnersFile(dataDir)).filter((q) => q.name !== p.name && q.origin !== p.origin)
      await writePartnersFile(dataDir, [...list, p])
      process.stdout.write(`added partner ${describe(p)}\n\n${selfText(self)}`)
    })
  partner
    .command('list')
    .description("this network's partnering details and its partners (from <data-dir>/partners.json)")
    .requiredOption('--data-dir <dir>', 'node data dir')
    .option('--json', 'print JSON')
    .action(async (o) => {
      const dataDir = resolve(o.dataDir)
      const self = await selfInfo(dataDir)
      const partners = await readPartnersFile(dataDir)
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ self, partners }, null, 2)}\n`)
        return
      }
      process.stdout.write(selfText(self))
      process.stdout.write(`\nPartners (${partners.length}):\n`)
      for (const p of partners) process.stdout.write(`  ${describe(p)}\n`)
    })
  partner
    .command('remove')
    .description('remove a partner by name (its stored cosignatures and entanglement proofs are kept)')
    .requiredOption('--data-dir <dir>', 'node data dir')
    .requiredOption('--name <name>', 'the partner name')
    .action(async (o) => {
      const dataDir = resolve(o.dataDir)
      const list = await readPartnersFile(dataDir)
      if (!list.some((p) => p.name === o.name)) throw new CliError('ERR_CLI_NOT_FOUND', `no partner named ${o.name} in ${join(dataDir, 'partners.json')}`)
      await writePartnersFile(dataDir, list.filter((p) => p.name !== o.name))
      process.stdout.write(`removed partner ${o.name}\n`)
    })
}
