import { type Packed, unpack } from './pack.js'
import { checkTxItems, merkleRootOfItems, signTxItems, verifyStrippedWithIds } from './work.js'

/** Messages the pool sends to a worker. */
export type Task =
  | ({ op: 'verifyStripped' } & Packed)
  | ({ op: 'checkTx' } & Packed)
  | ({ op: 'merkle' } & Packed)
  | ({ op: 'sign'; seed: Uint8Array } & Packed)
  // Used by the crash-recovery test only: the worker dies as it would on a native fault.
  | { op: 'crash' }

/** Piscina entry point. Results are plain typed arrays; the pool copies them out. */
export default function run(task: Task): unknown {
  switch (task.op) {
    case 'verifyStripped':
      return verifyStrippedWithIds(unpack(task))
    case 'checkTx':
      return checkTxItems(unpack(task))
    case 'merkle':
      return merkleRootOfItems(unpack(task))
    case 'sign':
      return signTxItems(task.seed, unpack(task))
    case 'crash':
      process.exit(70)
  }
}
