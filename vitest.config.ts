import { defineConfig } from 'vitest/config'

// Unit tests live beside each package (packages/*/test), cross-package and multi-process end-to-end tests
// under test/. Both run from the root with `npm test`.
//
// Scheduling (2-core CI machine, `npm test` must stay under 10 minutes): most e2e files spend their time
// waiting on block timers, sockets and child processes, so they share one pool of 3 workers with the unit
// files. The files that cut real network links (network namespaces) or kill and restart whole networks are
// timing-sensitive under CPU contention; they run afterwards, one at a time, on a quiet pool.
const SERIAL = ['test/partition.test.ts', 'test/quorum.test.ts', 'test/network.test.ts']
const E2E = { testTimeout: 300_000, hookTimeout: 120_000 }

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          testTimeout: 30_000,
          maxWorkers: 3,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          exclude: SERIAL,
          ...E2E,
          maxWorkers: 3,
        },
      },
      {
        test: {
          name: 'e2e-serial',
          include: SERIAL,
          ...E2E,
          fileParallelism: false,
        },
      },
    ],
  },
})
