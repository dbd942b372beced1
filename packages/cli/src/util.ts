import { readFile } from 'node:fs/promises'
import { InvalidArgumentError } from 'commander'
import { CliError } from './errors.js'

export { CliError } from './errors.js'

export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError('ERR_CLI_FILE', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError('ERR_CLI_FILE', `${what} ${path} is not valid JSON: ${(err as Error).message}`)
  }
}

/** A progress line on stderr, redrawn in place on a TTY and printed sparsely otherwise. */
export function progress(label: string): { update(done: number, total: number): void; done(): void } {
  const tty = process.stderr.isTTY
  let last = 0
  return {
    update(done, total) {
      const now = Date.now()
      if (!tty && now - last < 2000 && done < total) return
      if (tty && now - last < 100 && done < total) return
      last = now
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100
      const width = 30
      const bar = '#'.repeat(Math.floor((pct / 100) * width)).padEnd(width, '.')
      const line = `${label} [${bar}] ${pct}% ${done}/${total}`
      process.stderr.write(tty ? `\r${line}` : `${line}\n`)
    },
    done() {
      if (tty) process.stderr.write('\n')
    },
  }
}

/** commander argument parser: a TCP port 0-65535 (0 = any free port). */
export function portNumber(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535 (0 = any free port)')
  return n
}

/**
 * V8 flags for a node daemon's process (`profichain start`, as the bin's shebang and `devnet` pass them). A
 * 64 MiB young-generation semi-space: under load the node allocates short-lived buffers and strings per
 * record, and with V8's default (16 MiB) scavenges took 15-17 % of the main thread's busy time in the
 * ingest-API benchmark; with 64 MiB 10-11 % (docs/benchmarks.md, session 5). Costs ≈ 150 MiB more
 * resident memory at most. An operator's own --max-semi-space-size in NODE_OPTIONS wins.
 */
export function daemonNodeFlags(nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  return nodeOptions.includes('--max-semi-space-size') ? [] : ['--max-semi-space-size=64']
}
