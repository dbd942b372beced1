#!/usr/bin/env -S node --max-semi-space-size=64
// The V8 flag: a larger young generation for the daemon (see daemonNodeFlags in src/util.ts; `env -S` splits it).
// Thin launcher so the bin exists before the first build; the CLI itself is in dist/.
// LevelDB's fsyncs and ingest's file I/O share libuv's thread pool (4 threads by default): a few slow
// fsyncs stalled every other I/O call. Set before anything starts the pool (an operator's value wins).
process.env.UV_THREADPOOL_SIZE ??= '16'
await import('../dist/main.js')
