// Preloaded with NODE_OPTIONS=--import (which refuses --cpu-prof) by `network.mjs --profile`: profiles the
// main thread of every node process of a devnet and writes CPU.<date>.<time>.<pid>.0.0.cpuprofile into
// PC_CPU_PROF_DIR when the process exits (the devnet stops its nodes with SIGTERM, they exit cleanly).
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'

const dir = process.env.PC_CPU_PROF_DIR
if (dir && isMainThread) {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 1000 })
  session.post('Profiler.start')
  process.on('exit', () => {
    // In-process inspector sessions answer synchronously, so this still runs inside the exit handler.
    session.post('Profiler.stop', (err, res) => {
      if (err) return
      const iso = new Date().toISOString()
      const stamp = `${iso.slice(0, 10).replaceAll('-', '')}.${iso.slice(11, 19).replaceAll(':', '')}`
      writeFileSync(join(dir, `CPU.${stamp}.${process.pid}.0.0.cpuprofile`), JSON.stringify(res.profile))
    })
  })
}
