import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

function once<T>(registry: Registry, name: string, make: () => T): T {
  // A registry shared across server restarts in one process keeps the first instance.
  return (registry.getSingleMetric(name) as T | undefined) ?? make()
}

/** API metrics: profichain_api_<what>_<unit>. */
export class ApiMetrics {
  readonly requests: Counter<'route' | 'status'>
  readonly duration: Histogram<'route'>
  readonly refused: Counter<'reason'>
  readonly subscriptions: Gauge

  constructor(readonly registry: Registry) {
    const registers = [registry]
    this.requests = once(
      registry,
      'profichain_api_requests_total',
      () =>
        new Counter({
          name: 'profichain_api_requests_total',
          help: 'HTTP requests by route and status',
          labelNames: ['route', 'status'],
          registers,
        }),
    )
    this.duration = once(
      registry,
      'profichain_api_request_duration_seconds',
      () =>
        new Histogram({
          name: 'profichain_api_request_duration_seconds',
          help: 'Time to answer a request (SSE streams: until the stream opens)',
          labelNames: ['route'],
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
          registers,
        }),
    )
    this.refused = once(
      registry,
      'profichain_api_refused_total',
      () =>
        new Counter({
          name: 'profichain_api_refused_total',
          help: 'Requests refused (auth, body_size, query_limits, subscriptions)',
          labelNames: ['reason'],
          registers,
        }),
    )
    this.subscriptions = once(
      registry,
      'profichain_api_subscriptions',
      () =>
        new Gauge({ name: 'profichain_api_subscriptions', help: 'Open SSE subscription streams', registers }),
    )
  }
}
