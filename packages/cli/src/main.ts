import '@profichain/node' // loads the Promise.withResolvers polyfill before anything touches libp2p
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { isHex, nodeIdOf, ProfichainError, readKeyFile, sha256, toHex } from '@profichain/core'
import { createConsensus, loadGenesis } from '@profichain/consensus'
import { createNode, loadConfig, type NodeType } from '@profichain/node'
import { BlockTree } from '@profichain/store'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { graphql } from './api-client.js'
import { registerBrokerCommand } from './broker.js'
import { registerOpcuaCommand } from './opcua.js'
import { DECRYPT_EXIT, decryptFile } from './decrypt.js'
import { deviceCommand, formatOriginsReport } from './device.js'
import { devnet } from './devnet.js'
import { withEthAnchor } from './eth-proof.js'
import { INIT_CONSENSUS, init, initQuorum } from './init.js'
import { registerPartner } from './partner.js'
import { auditPartners } from './audit-partners.js'
import { withEntanglements } from './cross-proof.js'
import { CliError, progress } from './util.js'
import { VERIFY_EXIT, verifyFile } from './verify.js'
import { registerCheckpointCommand } from './checkpoint.js'
import { registerWitnessCommand } from './witness.js'

const VERSION = '0.1.0'

function port(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number 0-65535')
  return n
}

function positiveInt(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

function example(cmd: Command, text: string): Command {
  return cmd.addHelpText('after', `\nExample:\n  ${text.split('\n').join('\n  ')}\n`)
}

/** Open a stopped node's store read-only-ish for offline commands (proof, audit). */
async function openStore(dataDir: string): Promise<{ tree: BlockTree; apiBase: string }> {
  const config = await loadConfig(join(resolve(dataDir), 'config.toml'))
  const genesis = await loadGenesis(config.paths.genesis)
  try {
    const tree = await BlockTree.open({ path: config.paths.db, genesis, consensus: createConsensus(genesis), genesisSource: config.paths.genesis })
    const apiBase = config.api.public_url ?? `http://${config.api.host}:${config.api.port}`
    return { tree, apiBase }
  } catch (err) {
    if (err instanceof ProfichainError && err.code === 'ERR_STORE_LOCKED') {
      throw new CliError('ERR_CLI_NODE_RUNNING', `the node in ${dataDir} is running; stop it first (or ask its API with --api URL)`)
    }
    throw err
  }
}

export function buildProgram(): Command {
  const program = new Command()
    .name('profichain')
    .description('Profichain: tamper-proof data logging on a private peer-to-peer blockchain')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    // Set before the subcommands are added so they inherit it: usage errors exit 2 through main().
    .exitOverride()

  example(
    program
      .command('init')
      .description('create a node data dir: config.toml, node.key (0600), genesis.json and inbox/')
      .addOption(new Option('--type <type>', 'node type').choices(['thin', 'producer', 'archive', 'full']).default('full'))
      .requiredOption('--data-dir <dir>', 'directory for the node (created); with --consensus quorum the network directory')
      .option('--genesis <file>', 'join an existing network with this genesis (default: a new one-node network)')
      .option('--network <id>', 'network id of a new one-node network', 'local')
      .option('--origin <origin>', 'log origin of a new network, a schema-less URL such as acme.example/profichain/plant-1 (default profichain.invalid/<network>)')
      .option('--p2p-port <port>', 'libp2p TCP port', port, 7000)
      .option('--api-port <port>', 'HTTP API port (bound to 127.0.0.1)', port, 8545)
      .option('--block-time <ms>', 'block time of a new network, ms', positiveInt, 1000)
      .option('--line-mode', 'split *.jsonl and *.csv files into one record per line')
      .addOption(new Option('--consensus <kind>', 'consensus of a new network').choices([...INIT_CONSENSUS]).default('authority'))
      .option('--validators <n>', 'quorum: create a network of N validators (data dirs <data-dir>/validator-1..N)', positiveInt)
      .option('--threshold <k>', 'quorum: co-signatures that make a block final (default ⌊2N/3⌋+1)', positiveInt)
      .action(async (o) => {
        if (o.consensus === 'quorum') {
          if (o.genesis) throw new CliError('ERR_CLI_USAGE', '--consensus quorum creates a new network; to join one, drop --consensus and pass --genesis')
          if (o.type !== 'full') throw new CliError('ERR_CLI_USAGE', '--consensus quorum creates validators (full nodes); add other nodes later with init --genesis <dir>/genesis.json')
          const q = await initQuorum({
            dir: o.dataDir,
            validators: o.validators ?? 4,
            threshold: o.threshold,
            network: o.network,
            p2pPort: o.p2pPort,
            apiPort: o.apiPort,
            blockTime: o.blockTime,
            lineMode: o.lineMode,
            origin: o.origin,
          })
          const lines = [
            `initialised quorum network "${o.network}" in ${q.dir}: ${q.nodes.length} validators, a block is final with ${q.threshold} of ${q.nodes.length} signatures`,
            `  genesis: ${q.genesis}`,
            ...q.nodes.map((n) => `  ${n.name}: node ${n.nodeId}, p2p 127.0.0.1:${n.p2pPort}, api http://127.0.0.1:${n.apiPort}`),
            'start every validator (each in its own terminal or as a service):',
            ...q.nodes.map((n) => `  profichain start --data-dir ${join(o.dataDir, n.name)}`),
            `blocks need ${q.threshold} running validators to become final; watch finalHeight with profichain status --api http://127.0.0.1:${q.nodes[0].apiPort}`,
          ]
          process.stdout.write(`${lines.join('\n')}\n`)
          return
        }
        if (o.validators !== undefined || o.threshold !== undefined) {
          throw new CliError('ERR_CLI_USAGE', '--validators and --threshold need --consensus quorum')
        }
        const r = await init({
          type: o.type as NodeType,
          dataDir: o.dataDir,
          genesis: o.genesis,
          network: o.network,
          p2pPort: o.p2pPort,
          apiPort: o.apiPort,
          blockTime: o.blockTime,
          lineMode: o.lineMode,
          origin: o.origin,
        })
        process.stdout.write(
          `initialised ${o.type} node ${r.nodeId} in ${r.dataDir}\n  public key ${r.publicKey}\n  ingest API certificate fingerprint ${r.ingestFingerprint} (devices pin it; the API is on with [modules] ingest_api = true)\n  start it: profichain start --data-dir ${o.dataDir}\n  then drop files into ${join(r.dataDir, 'inbox')}/\n`,
        )
      }),
    'profichain init --type full --data-dir ./node1 --api-port 8545\n' +
      '# a quorum network of 4 validators (final with 3 signatures) in ./net/validator-1..4:\n' +
      'profichain init --consensus quorum --validators 4 --data-dir ./net --network plant\n' +
      'profichain start --data-dir ./net/validator-1   # …and validator-2, -3, -4',
  )

  example(
    program
      .command('start')
      .description('run a node in the foreground until SIGINT/SIGTERM')
      .requiredOption('--data-dir <dir>', 'node data dir (from profichain init)')
      .action(async (o) => {
        const config = await loadConfig(join(resolve(o.dataDir), 'config.toml'))
        const node = await createNode({ config })
        let signals = 0
        let parentWatch: NodeJS.Timeout | undefined
        const onSignal = (sig: string) => {
          signals++
          clearInterval(parentWatch) // stopping already: the parent going away is no reason to hurry
          if (signals > 1) {
            process.stderr.write(`${sig} again: exiting without a clean stop\n`)
            process.exit(130)
          }
          process.stderr.write(`${sig}: stopping (finishing in-flight work)…\n`)
          node.stop().then(
            () => process.exit(0),
            (err) => {
              process.stderr.write(`error while stopping: ${(err as Error).message}\n`)
              process.exit(1)
            },
          )
        }
        process.on('SIGINT', () => onSignal('SIGINT'))
        process.on('SIGTERM', () => onSignal('SIGTERM'))
        // Started by `profichain devnet`: stop cleanly when that process is gone (even if it was SIGKILLed).
        const parent = Number(process.env.PROFICHAIN_PARENT_PID)
        if (Number.isInteger(parent) && parent > 0) {
          parentWatch = setInterval(() => {
            try {
              process.kill(parent, 0)
            } catch {
              onSignal('parent gone')
            }
          }, 1000).unref()
        }
        await node.start()
        const c = node.config
        process.stderr.write(
          `profichain ${c.type} node ${node.nodeId} running on network "${node.genesis.network}" at height ${node.tree.head().height}\n` +
            (c.enabled.ingest ? `  inbox: ${c.paths.inbox}\n` : '') +
            (c.enabled.api ? `  api:   ${node.anchorBase()}/graphql\n` : '') +
            '  Ctrl-C to stop\n',
        )
      }),
    'profichain start --data-dir ./node1',
  )

  example(
    program
      .command('keys')
      .description("show a node's public key and node id, or generate a new key file")
      .option('--data-dir <dir>', 'node data dir whose node.key to show')
      .option('--generate <file>', 'write a new Ed25519 key (PKCS#8 PEM, mode 0600) to this file')
      .action(async (o) => {
        if (o.generate) {
          const { generateKeyPair, writeKeyFile } = await import('@profichain/core')
          const kp = generateKeyPair()
          await writeKeyFile(o.generate, kp)
          process.stdout.write(`${JSON.stringify({ file: o.generate, publicKey: toHex(kp.publicKey), nodeId: nodeIdOf(kp.publicKey) }, null, 2)}\n`)
          return
        }
        if (!o.dataDir) throw new CliError('ERR_CLI_USAGE', 'give --data-dir <dir> to show a key, or --generate <file>')
        const kp = await readKeyFile(join(resolve(o.dataDir), 'node.key'))
        process.stdout.write(`${JSON.stringify({ publicKey: toHex(kp.publicKey), nodeId: nodeIdOf(kp.publicKey) }, null, 2)}\n`)
      }),
    'profichain keys --data-dir ./node1\nprofichain keys --generate ./device.key',
  )

  example(
    program
      .command('proof')
      .description('print the receipt of a committed record (from a stopped node\'s data dir)')
      .argument('[txId]', 'transaction id (64 hex)')
      .option('--data-dir <dir>', "a stopped node's data dir")
      .option('--api <url>', 'ask a running node instead (its API base URL)')
      .option('--token <token>', 'API bearer token (or PROFICHAIN_API_TOKEN)')
      .option('--file <file>', 'find the record by the content of this file instead of a txId')
      .addOption(new Option('--format <format>', 'receipt form').choices(['chainpoint', 'native']).default('chainpoint'))
      .option('--out <file>', 'write the receipt here instead of stdout')
      .action(async (txIdArg: string | undefined, o) => {
        if (!o.dataDir === !o.api) throw new CliError('ERR_CLI_USAGE', 'give either --data-dir <dir> (stopped node) or --api <url> (running node)')
        if (o.api) {
          let id = txIdArg?.toLowerCase()
          if (o.file) {
            const data = await readFile(o.file).catch((err) => {
              throw new CliError('ERR_CLI_FILE', `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code}`)
            })
            const r = await graphql<{ transactions: { nodes: Array<{ id: string }> } }>(
              o.api,
              'query($h: String!) { transactions(filter: { payloadHash: $h }, first: 1) { nodes { id } } }',
              { h: toHex(sha256(data)) },
              o.token,
            )
            id = r.transactions.nodes[0]?.id
            if (!id) throw new CliError('ERR_CLI_NOT_FOUND', `no record with the content of ${o.file} (SHA-256 ${toHex(sha256(data))}) is on that node's chain`)
          }
          if (!id || !isHex(id, 32)) throw new CliError('ERR_CLI_USAGE', 'give a txId (64 hex chars) or --file <file>')
          const r = await graphql<{ receipt: unknown }>(
            o.api,
            'query($id: String!, $f: ReceiptFormat) { receipt(txId: $id, format: $f) }',
            { id, f: o.format.toUpperCase() },
            o.token,
          )
          if (!r.receipt) throw new CliError('ERR_CLI_NOT_FOUND', `record ${id} is not in a canonical block yet`)
          const text = `${JSON.stringify(r.receipt, null, 2)}\n`
          if (o.out) await writeFile(o.out, text)
          else process.stdout.write(text)
          return
        }
        const { tree, apiBase } = await openStore(o.dataDir)
        try {
          let ids: string[]
          if (o.file) {
            const data = await readFile(o.file).catch((err) => {
              throw new CliError('ERR_CLI_FILE', `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code}`)
            })
            ids = (await tree.txIdsByPayloadHash(sha256(data))).map((x: Uint8Array | string) => (typeof x === 'string' ? x : toHex(x)))
            if (ids.length === 0) throw new CliError('ERR_CLI_NOT_FOUND', `no record with the content of ${o.file} (SHA-256 ${toHex(sha256(data))}) is in this node's chain`)
          } else {
            if (!txIdArg || !isHex(txIdArg, 32)) throw new CliError('ERR_CLI_USAGE', 'give a txId (64 hex chars) or --file <file>')
            ids = [txIdArg.toLowerCase()]
          }
          const single = await tree.receipt(ids[0], o.format, apiBase)
          if (!single) throw new CliError('ERR_CLI_NOT_FOUND', `record ${ids[0]} is not in a canonical block of this node`)
          const receipt = await withEthAnchor(o.dataDir, tree, ids[0], await withEntanglements(o.dataDir, tree, ids[0], single)) // cross-chain and eth branches, if any

          const text = `${JSON.stringify(receipt, null, 2)}\n`
          if (o.out) await writeFile(o.out, text)
          else process.stdout.write(text)
        } finally {
          await tree.close()
        }
      }),
    'profichain proof --data-dir ./node1 --file ./report.pdf --format native --out report.receipt.json\nprofichain proof --api http://127.0.0.1:8545 3f1c…e2 --format chainpoint',
  )

  example(
    program
      .command('verify')
      .description('check a file against its receipt and the block against a chain (exit 0 only if all of it holds)')
      .argument('<file>', 'the data file (or the JSONL/CSV export for line receipts)')
      .requiredOption('--receipt <file>', 'Chainpoint (.chp.json) or native receipt')
      .option('--genesis <file>', 'network genesis: check the producer is a validator (native receipts)')
      .option('--api <url>', 'check the block hash against this node\'s canonical chain (http:// assumed)')
      .option('--token <token>', 'API bearer token for --api (default: env PROFICHAIN_API_TOKEN)')
      .option('--line <n>', 'line receipts: check only this line', positiveInt)
      .option('--partner-genesis <file...>', 'cross-chain receipts: genesis of each partner network (checks its cosignature and block signatures)')
      .option('--partner-api <url...>', "cross-chain receipts: a partner's node, asked for the partner block hash")
      .option('--eth-rpc <url>', 'public anchors: Ethereum JSON-RPC URL; checks each eth anchor tx carries the checkpoint at the stated depth (without it: UNCHECKED)')
      .addHelpText(
        'after',
        `
Exit codes:
  0  VERIFIED: the proof holds and its block is anchored (--api node agrees, or --genesis for a native receipt)
  1  FAILED: a check failed (data changed, malformed or forged receipt, the node has another block)
  2  usage error
  3  proof consistent, anchor NOT checked: give --api (or --genesis for a native receipt);
     anyone can build a self-consistent receipt, so this is not a verification`,
      )
      .action(async (file: string, o) => {
        const r = await verifyFile(file, { receipt: o.receipt, genesis: o.genesis, api: o.api, token: o.token, line: o.line, partnerGenesis: o.partnerGenesis, partnerApi: o.partnerApi, ethRpc: o.ethRpc })
        for (const l of r.lines) process.stdout.write(`${l}\n`)
        const verdict = {
          verified: 'VERIFIED',
          failed: 'FAILED',
          anchorNotChecked: 'proof consistent, anchor NOT checked (pass --api <node URL>, or --genesis <file> for a native receipt)',
        }[r.outcome]
        process.stdout.write(`${verdict}\n`)
        process.exitCode = VERIFY_EXIT[r.outcome]
      }),
    'profichain verify ./report.pdf --receipt ./receipts/report.pdf.chp.json --api http://127.0.0.1:8545\nprofichain verify ./report.pdf --receipt report.receipt.json --genesis genesis.json',
  )

  example(
    program
      .command('audit')
      .description('re-hash and re-verify everything a stopped node stores; name every mismatch')
      .requiredOption('--data-dir <dir>', 'node data dir')
      .option('--json', 'print the report as JSON')
      .option('--origins', 'per origin (members, devices): records, seq range, gaps, reorders, replays and revoked-key uses refused; exit 1 only on evidence of tampering')
      .option('--partners', 'audit what is stored about partner networks instead: witnessed checkpoints, entanglement proofs, evidence (exit 1 on evidence)')
      .action(async (o) => {
        if (o.partners) {
          const r = await auditPartners(o.dataDir)
          process.stdout.write(o.json ? `${JSON.stringify({ ...r.json, problems: r.problems }, null, 2)}\n` : r.lines.map((l) => `${l}\n`).join(''))
          if (r.problems > 0) process.exitCode = 1
          return
        }
        const { tree } = await openStore(o.dataDir)
        try {
          if (o.origins) {
            const report = await tree.auditOrigins()
            process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatOriginsReport(report))
            if (report.tampering) process.exitCode = 1
            return
          }
          const bar = progress('audit')
          const report = await tree.audit((p: { height: number; headHeight: number }) => bar.update(p.height, p.headHeight))
          bar.done()
          const stats = await tree.stats()
          // Receipts the node could not write yet (parked for retry): not an inconsistency, but the
          // operator must see them, since those records have no receipt file yet.
          const deferred = await tree.outbox.deferredReceipts(1000)
          if (o.json) {
            const out = { ...report, headHeight: stats.headHeight, canonicalTxs: stats.txs, deferredReceipts: deferred }
            process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
          }
          else {
            for (const m of report.mismatches) {
              const where = [m.height !== undefined ? `block ${m.height}` : '', m.blockHash ? `(${m.blockHash.slice(0, 16)}…)` : '', m.txId ? `tx ${m.txId}` : '']
                .filter(Boolean)
                .join(' ')
              process.stdout.write(`MISMATCH ${m.kind} ${where}: ${m.message}\n`)
            }
            // Not a store inconsistency (exit code unchanged), but the operator must see it: a validator key misbehaved.
            for (const e of report.evidence ?? []) {
              process.stdout.write(`EQUIVOCATION validator ${e.signer} co-signed two blocks at height ${e.height}: ${e.blockHashes[0]} and ${e.blockHashes[1]}\n`)
            }
            for (const d of deferred) {
              process.stdout.write(`RECEIPT PENDING tx ${d.txId}: ${d.attempts} failed attempt(s) since ${new Date(d.firstFailedAt).toISOString()}, last ${d.code}: ${d.message}\n`)
            }
            process.stdout.write(
              `audited ${report.blocks} blocks, ${report.txs} txs (${stats.txs} on the canonical chain of height ${stats.headHeight}), ${report.payloads} payloads: ${report.mismatches.length === 0 ? 'all consistent' : `${report.mismatches.length} mismatch(es)`}\n`,
            )
          }
          if (report.mismatches.length > 0) process.exitCode = 1
        } finally {
          await tree.close()
        }
      }),
    'profichain audit --data-dir ./node1\nprofichain audit --data-dir ./node1 --origins --json',
  )
  example(
    program
      .command('decrypt')
      .description('open a tier-2 encrypted record with its released record key: checks the receipt, the key commitment and the ciphertext')
      .argument('<file>', 'the record as submitted (transaction CBOR) or its payload (the ciphertext)')
      .requiredOption('--key <hex>', 'the record key K (64 hex), released for this record only')
      .requiredOption('--receipt <file>', 'its Chainpoint (.chp.json) or native receipt')
      .option('--out <file>', 'write the plaintext here (mode 0600) instead of stdout')
      .option('--api <url>', "also check the block hash against this node's canonical chain")
      .option('--token <token>', 'API bearer token for --api (default: env PROFICHAIN_API_TOKEN)')
      .addHelpText('after', '\nExit codes:\n  0  decrypted: receipt, key commitment and ciphertext hold\n  1  FAILED: a check failed (changed data, wrong key, tampered ciphertext)\n  2  usage error')
      .action(async (file: string, o) => {
        const r = await decryptFile(file, { key: o.key, receipt: o.receipt, out: o.out, api: o.api, token: o.token })
        for (const l of r.lines) process.stderr.write(`${l}\n`)
        if (r.ok && o.out === undefined && r.plaintext) process.stdout.write(r.plaintext)
        if (!r.ok) process.stderr.write('FAILED\n')
        process.exitCode = r.ok ? DECRYPT_EXIT.ok : DECRYPT_EXIT.failed
      }),
    'profichain decrypt ./record.cbor --key 3261…49ad --receipt ./record.chp.json --out reading.json',
  )
  example(
    program
      .command('status')
      .description("a running node's status through its API")
      .option('--api <url>', 'node API base URL', 'http://127.0.0.1:8545')
      .option('--token <token>', 'API bearer token (or PROFICHAIN_API_TOKEN)')
      .option('--json', 'print JSON')
      .action(async (o) => {
        const r = await graphql<{ status: Record<string, unknown> }>(
          o.api,
          '{ status { type nodeId peerId network height headHash finalHeight peers mempoolSize outboxSize syncState version health problems { code message since } ingestFingerprint ingestAddress } }',
          {},
          o.token,
        )
        if (o.json) process.stdout.write(`${JSON.stringify(r.status, null, 2)}\n`)
        else {
          const { problems, ...rest } = r.status as { problems?: Array<{ code: string; message: string; since?: number }> }
          for (const [k, v] of Object.entries(rest)) process.stdout.write(`${k.padEnd(12)} ${v ?? '-'}\n`)
          for (const p of problems ?? []) {
            const since = p.since ? ` (since ${new Date(p.since).toISOString()})` : ''
            process.stdout.write(`${'problem'.padEnd(12)} ${p.code}: ${p.message}${since}\n`)
          }
        }
      }),
    'profichain status --api http://127.0.0.1:8545',
  )

  example(
    program
      .command('devnet')
      .description('run a local network as separate processes on loopback: one full node (or N quorum validators) and N thin nodes')
      .option('--dir <dir>', 'where the nodes keep their data (reused on the next run)', '.devnet')
      .option('--thin <n>', 'number of thin nodes', (v) => Number.parseInt(v, 10), 2)
      .option('--block-time <ms>', 'block time of a new devnet, ms', positiveInt, 1000)
      .option('--p2p-port <port>', 'first libp2p port (one per node, counting up)', port, 7100)
      .option('--api-port <port>', 'first API port (one per node, counting up)', port, 8600)
      .option('--network <id>', 'network id of a new devnet', 'devnet')
      .addOption(new Option('--consensus <kind>', 'consensus of a new devnet').choices([...INIT_CONSENSUS]).default('authority'))
      .option('--validators <n>', 'quorum: number of validators (full nodes validator-1..N), default 4', positiveInt)
      .option('--threshold <k>', 'quorum: co-signatures that make a block final (default ⌊2N/3⌋+1)', positiveInt)
      .option('--networks <n>', 'global network: N companies (<network>-1..N, each its own genesis and validator) partnered through an embedded MQTT broker', positiveInt, 1)
      .option('--broker-port <port>', 'with --networks: port of the embedded MQTT broker', port, 1883)
      .option('--opcua', 'also run the OPC UA machine-tool simulator and a bridge into the first thin node (docs/opcua.md)')
      .option('--anchor', 'public anchoring: start a local Ethereum chain (ganache) and anchor the checkpoints on it')
      .option('--anchor-port <port>', 'with --anchor: JSON-RPC port of the local Ethereum chain', port, 8645)
      .action(async (o) => {
        if (!Number.isInteger(o.thin) || o.thin < 0 || o.thin > 32) throw new CliError('ERR_CLI_USAGE', '--thin must be 0..32')
        if (o.consensus !== 'quorum' && (o.validators !== undefined || o.threshold !== undefined)) {
          throw new CliError('ERR_CLI_USAGE', '--validators and --threshold need --consensus quorum')
        }
        process.stderr.write(`starting devnet in ${resolve(o.dir)}…\n`)
        const { info, stop } = await devnet({
          dir: o.dir,
          thin: o.thin,
          blockTimeMs: o.blockTime,
          p2pBasePort: o.p2pPort,
          apiBasePort: o.apiPort,
          network: o.network,
          consensus: o.consensus,
          validators: o.validators,
          threshold: o.threshold,
          networks: o.networks,
          brokerPort: o.brokerPort,
          opcua: o.opcua,
          anchor: o.anchor,
          anchorPort: o.anchorPort,
        })
        process.stderr.write(
          `devnet "${info.network}" is ready: ${join(resolve(o.dir), 'devnet.json')}\n` +
            `  drop files into an inbox above; receipts appear in <node>/receipts/\n  node logs: <node>/node.log — Ctrl-C stops all nodes\n`,
        )
        await new Promise<void>((res) => {
          let stopping = false
          const done = (sig: string) => {
            if (stopping) {
              // Another Ctrl-C must not kill this process before the nodes are down (they would then stop
              // on their own parent watch, but nobody would report it).
              process.stderr.write(`${sig}: still stopping the nodes cleanly (each gets 20 s, then SIGKILL)…\n`)
              return
            }
            stopping = true
            process.stderr.write(`${sig}: stopping all nodes…\n`)
            stop().then(
              () => {
                process.stderr.write('all nodes stopped\n')
                res()
              },
              res,
            )
          }
          process.on('SIGINT', () => done('SIGINT'))
          process.on('SIGTERM', () => done('SIGTERM'))
        })
      }),
    'profichain devnet --dir .devnet --thin 2\n' +
      '# 4 validators that co-sign blocks (final with 3 signatures), plus one thin node:\n' +
      'profichain devnet --dir .qnet --consensus quorum --validators 4 --thin 1\n' +
      '# two companies that countersign each other through an embedded MQTT broker:\n' +
      'profichain devnet --dir .gnet --networks 2 --thin 0',
  )
  registerBrokerCommand(program)
  registerOpcuaCommand(program)
  program.addCommand(deviceCommand())
  registerCheckpointCommand(program)
  registerWitnessCommand(program)
  registerPartner(program)
  return program
}

/** Print one clear line for expected failures; a stack only with PROFICHAIN_DEBUG=1. */
export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    const e = err as Error & { code?: string; exitCode?: number }
    process.stderr.write(`error: ${e.message}\n`)
    if (process.env.PROFICHAIN_DEBUG === '1') process.stderr.write(`${e.stack}\n`)
    process.exitCode = e instanceof CliError ? e.exitCode : 1
  }
}


// A reader that stops early (`profichain status | head -3`) closes our stdout: that is no error. Stop quietly with
// the exit code set so far, as Unix tools do, instead of an unhandled EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  process.exit(process.exitCode ?? 0)
})

await main()
