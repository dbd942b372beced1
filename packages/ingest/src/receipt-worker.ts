// The receipt file worker (receipt-io.ts, WorkerReceiptIo): runs receipt file jobs off the main thread.
import { parentPort } from 'node:worker_threads'
import { type ReceiptWorkerAnswer, type ReceiptWorkerRequest, runReceiptJobs } from './receipt-io.js'

const made = new Set<string>()
const port = parentPort
if (port === null) throw new Error('receipt-worker.js runs as a worker thread')
port.on('message', (m: ReceiptWorkerRequest) => {
  void runReceiptJobs(m.jobs, made).then((results) => port.postMessage({ id: m.id, results } satisfies ReceiptWorkerAnswer))
})
