// The file ingest's worker (file-io.ts, FileIo): per-file lstat/read/link/unlink off the main thread.
import { parentPort } from 'node:worker_threads'
import { decodeJobs, type FileWorkerAnswer, type FileWorkerRequest, runFileJob, transfersOf } from './file-io.js'

const made = new Set<string>()
const port = parentPort
if (port === null) throw new Error('file-worker.js runs as a worker thread')
port.on('message', (m: FileWorkerRequest) => {
  const results = decodeJobs(m.jobs).map((j) => runFileJob(j, made))
  port.postMessage({ id: m.id, results } satisfies FileWorkerAnswer, transfersOf(results))
})
