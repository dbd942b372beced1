import { readFile } from 'node:fs/promises'
import { type Broker, createBroker } from '@profichain/global'
import { type Command, InvalidArgumentError } from 'commander'
import { CliError, portNumber } from './util.js'

function positive(v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

const HELP = `
The broker is where partner networks meet: each company's nodes connect out to it (so no company opens a
port in its firewall), publish to the partner's topic and subscribe to their own. It sees topics, sizes and
ciphertext only: every message is encrypted to the recipient network (HPKE) and signed by the sending node,
and it keeps nothing on disk: the nodes re-send until answered, so restarting it loses nothing.
Any MQTT 3.1.1 broker works as well (mosquitto, EMQX, HiveMQ); this one is aedes, embedded.

Listeners (each prints its URL on stdout once listening, one per line):
  mqtt://   plain MQTT on --port (default 1883; --no-plain to turn it off)
  mqtts://  MQTT over TLS on --tls-port (default 8883) when --tls-cert and --tls-key are given
  ws://     MQTT over WebSocket on --ws-port
  wss://    MQTT over WebSocket over TLS on --wss-port (same certificate): use 443 to pass firewalls
            that only let HTTPS out

A self-signed certificate for a trial (give the nodes cert.pem as their CA):
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \\
    -subj /CN=broker.example.com -addext subjectAltName=DNS:broker.example.com \\
    -keyout privkey.pem -out cert.pem
See docs/broker.md.

Example:
  profichain broker                                   # mqtt://0.0.0.0:1883, for a test or a LAN
  profichain broker --no-plain --tls-cert fullchain.pem --tls-key privkey.pem --tls-port 8883 --wss-port 443
  # the partners' nodes then connect to mqtts://broker.example.com:8883 (or wss://broker.example.com:443);
  # a port below 1024 needs root or: setcap cap_net_bind_service=+ep "$(command -v node)"
`

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new CliError('ERR_CLI_FILE', `cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** `profichain broker`: run the embedded MQTT broker in the foreground until SIGINT/SIGTERM. */
export function registerBrokerCommand(program: Command): void {
  program
    .command('broker')
    .description('run an MQTT broker (embedded aedes) where partner networks exchange encrypted messages')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'plain MQTT port (0 = any free port)', portNumber, 1883)
    .option('--no-plain', 'no plain MQTT listener (TLS and/or WebSocket only)')
    .option('--tls-cert <file>', 'PEM certificate chain for mqtts:// and wss://')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-port <port>', 'MQTT over TLS port (needs --tls-cert and --tls-key)', portNumber)
    .option('--ws-port <port>', 'MQTT over WebSocket port (no TLS)', portNumber)
    .option('--wss-port <port>', 'MQTT over WebSocket over TLS port (needs --tls-cert and --tls-key)', portNumber)
    .option('--max-connections <n>', 'connections open at once at most', positive, 1000)
    .option('--max-packet-bytes <n>', 'largest MQTT packet a client may send', positive, 2 * 1024 * 1024)
    .addHelpText('after', HELP)
    .action(async (o) => {
      const tlsGiven = o.tlsCert !== undefined || o.tlsKey !== undefined
      if (tlsGiven && (o.tlsCert === undefined || o.tlsKey === undefined)) {
        throw new CliError('ERR_CLI_USAGE', '--tls-cert and --tls-key go together: give both')
      }
      if (!tlsGiven && (o.tlsPort !== undefined || o.wssPort !== undefined)) {
        throw new CliError('ERR_CLI_USAGE', '--tls-port and --wss-port need a certificate: add --tls-cert FILE --tls-key FILE')
      }
      if (!o.plain && !tlsGiven && o.wsPort === undefined) {
        throw new CliError('ERR_CLI_USAGE', '--no-plain leaves no listener: add --tls-cert/--tls-key (mqtts, wss) or --ws-port')
      }
      let tls: { key: string; cert: string } | undefined
      if (tlsGiven) tls = { cert: await readPem(o.tlsCert, 'certificate'), key: await readPem(o.tlsKey, 'key') }
      const broker: Broker = createBroker({
        host: o.host,
        port: o.plain ? o.port : null,
        ...(tls ? { tls: { ...tls, port: o.tlsPort ?? 8883 } } : {}),
        ...(tls && o.wssPort !== undefined ? { wss: { ...tls, port: o.wssPort } } : {}),
        ...(o.wsPort !== undefined ? { ws: { port: o.wsPort } } : {}),
        maxConnections: o.maxConnections,
        maxPacketBytes: o.maxPacketBytes,
      })
      await broker.start()
      for (const url of broker.urls) process.stdout.write(`${url}\n`)
      process.stderr.write(`profichain broker listening on ${broker.urls.join(', ')} (in memory; nodes re-send after a restart)\n  Ctrl-C to stop\n`)
      await new Promise<void>((resolve) => {
        let stopping = false
        const onSignal = (sig: string) => {
          if (stopping) return
          stopping = true
          process.stderr.write(`${sig}: stopping the broker…\n`)
          broker.stop().then(resolve, (err: unknown) => {
            process.stderr.write(`error while stopping: ${(err as Error).message}\n`)
            process.exitCode = 1
            resolve()
          })
        }
        process.on('SIGINT', () => onSignal('SIGINT'))
        process.on('SIGTERM', () => onSignal('SIGTERM'))
      })
    })
}
