#!/usr/bin/env node
// `npm test` runs vitest through this wrapper: every test (and every node, broker or browser a test starts)
// makes its temporary files under one fresh folder, `$TMPDIR/profichain-test-XXXXXX` (TMPDIR is pointed at
// it), which is removed when the run passes. A failed run keeps it for the logs and data dirs it holds
// (its path is printed); PROFICHAIN_KEEP_TMP=1 keeps it always. Arguments go to vitest unchanged.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = mkdtempSync(join(tmpdir(), 'profichain-test-'))
const vitest = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'vitest', 'vitest.mjs')
const child = spawn(process.execPath, [vitest, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: dir },
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => {
  const ok = code === 0
  if (ok && process.env.PROFICHAIN_KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true })
  else process.stderr.write(`test temp files kept in ${dir}\n`)
  process.exit(code ?? (signal ? 1 : 0))
})
