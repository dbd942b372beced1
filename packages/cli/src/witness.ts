// `profichain witness add|list|remove`: outside C2SP witnesses asked to cosign this network's checkpoints.
import { join, resolve } from 'node:path'
import { type OutsideWitness, parseOutsideWitness, readWitnessesFile, WITNESSES_FILE, writeWitnessesFile } from '@profichain/global'
import { loadConfig } from '@profichain/node'
import type { Command } from 'commander'
import { CliError } from './util.js'

async function dataDirOf(dir: string): Promise<string> {
  // A data dir is one with a config (a clear error otherwise).
  const config = await loadConfig(join(resolve(dir), 'config.toml'))
  return config.dataDir
}

export function registerWitnessCommand(program: Command): void {
  const witness = program
    .command('witness')
    .description(`outside C2SP witnesses that cosign this network's checkpoints (<data-dir>/${WITNESSES_FILE}; a running node reads it every checkpoint interval)`)
  witness
    .command('add')
    .description('add a witness: the node POSTs add-checkpoint to it after each checkpoint and serves its cosignatures on GET /checkpoint')
    .requiredOption('--data-dir <dir>', 'node data dir')
    .requiredOption('--url <url>', 'the witness base URL (…/add-checkpoint is appended)')
    .requiredOption('--vkey <vkey>', "the witness's cosigner vkey (name+hex8+base64, type 0x04)")
    .action(async (o: { dataDir: string; url: string; vkey: string }) => {
      const dir = await dataDirOf(o.dataDir)
      let w: OutsideWitness
      try {
        w = parseOutsideWitness({ url: o.url, vkey: o.vkey }, 'witness')
      } catch (err) {
        throw new CliError('ERR_CLI_USAGE', (err as Error).message)
      }
      const list = await readWitnessesFile(dir)
      if (list.some((x) => x.name === w.name)) throw new CliError('ERR_CLI_USAGE', `a witness named "${w.name}" is already configured; remove it first`)
      await writeWitnessesFile(dir, [...list, w])
      process.stdout.write(`witness ${w.name} added (${w.url})\n`)
    })
  witness
    .command('list')
    .description('list the witnesses of witnesses.json')
    .requiredOption('--data-dir <dir>', 'node data dir')
    .option('--json', 'print JSON')
    .action(async (o: { dataDir: string; json?: boolean }) => {
      const list = await readWitnessesFile(await dataDirOf(o.dataDir))
      if (o.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
      else process.stdout.write(list.map((w) => `${w.name}\t${w.url}\t${w.vkey}\n`).join(''))
    })
  witness
    .command('remove')
    .description('remove a witness by name')
    .requiredOption('--data-dir <dir>', 'node data dir')
    .requiredOption('--name <name>', "the witness's name (its vkey's name)")
    .action(async (o: { dataDir: string; name: string }) => {
      const dir = await dataDirOf(o.dataDir)
      const list = await readWitnessesFile(dir)
      const rest = list.filter((w) => w.name !== o.name)
      if (rest.length === list.length) throw new CliError('ERR_CLI_NOT_FOUND', `no witness named "${o.name}" in ${join(dir, WITNESSES_FILE)}`)
      await writeWitnessesFile(dir, rest)
      process.stdout.write(`witness ${o.name} removed\n`)
    })
}
