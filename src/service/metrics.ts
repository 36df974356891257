import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What the metrics read from the engine's `stats` on each scrape. */
export interface EngineStatsSnapshot {
  readonly queued: number;
  readonly inFlight: number;
  readonly paused: boolean;
}

/** What the metrics read from the task follower on each scrape. */
export interface FollowerStatsSnapshot {
  /** Rounds of task retrievals made since the follower was created (only ever grows). */
  readonly retrievals: number;
  /** Tasks followed right now. */
  readonly size: number;
}

/** The parts of a finished or delivered job the metrics label by. */
export interface MeasuredJob {
  readonly state: string;
  readonly platform: string;
  readonly error?: { readonly code: string } | undefined;
}

/**
 * The least of the job engine that `bindEngine` needs, so that tests can pass a plain
 * EventEmitter. `JobEngine` satisfies it.
 */
export interface EngineEventSource {
  on(event: 'finished', listener: (job: MeasuredJob) => void): unknown;
  on(event: 'created', listener: (durationMs: number, ok: boolean) => void): unknown;
  on(event: 'delivered', listener: (job: MeasuredJob, durationMs: number) => void): unknown;
  on(event: 'claimed', listener: (job: MeasuredJob, waitMs: number) => void): unknown;
  off(event: 'finished', listener: (job: MeasuredJob) => void): unknown;
  off(event: 'created', listener: (durationMs: number, ok: boolean) => void): unknown;
  off(event: 'delivered', listener: (job: MeasuredJob, durationMs: number) => void): unknown;
  off(event: 'claimed', listener: (job: MeasuredJob, waitMs: number) => void): unknown;
  readonly stats: EngineStatsSnapshot;
}

/** What the store counts for the whole fleet (see `JobStore.counts`). */
export interface FleetCountsSnapshot {
  readonly queued: number;
  readonly running: number;
  readonly late: number;
}

export interface Metrics {
  /** This service's own registry: never prom-client's global one, so instances never clash. */
  readonly registry: Registry;
  /** Reads the engine's queue depth, jobs in flight and pause on each scrape. */
  observeEngine(read: () => EngineStatsSnapshot): void;
  /**
   * Reads the fleet-wide counts from the store on each scrape: every process over one database
   * reports the same figures (scrape one, or take the max, not the sum).
   */
  observeFleet(read: () => Promise<FleetCountsSnapshot>): void;
  /** Reads the task follower's retrievals and followed tasks on each scrape. */
  observeFollower(read: () => FollowerStatsSnapshot): void;
  /**
   * Counts the engine's events (finished jobs, creates, deliveries) and observes its stats.
   * Returns a function that stops listening.
   */
  bindEngine(engine: EngineEventSource): () => void;
  /** A callback arrived; `accepted` is what the engine answered. */
  recordCallback(accepted: boolean): void;
  /** The Prometheus text exposition of everything in the registry. */
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

/** Creates can take seconds to minutes (4K with reference images: 2 minutes and more). */
const CREATE_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
/**
 * A claim takes a few store round trips when a slot is free (milliseconds), longer when the claim
 * loop is busy or a poll has to find the job: fine from 1 ms to see the p99 against its 50 ms
 * target. A job waiting for a slot waits as long as the jobs ahead of it run.
 */
const CLAIM_WAIT_BUCKETS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10, 30, 60,
  300,
];
/** A delivery uploads a few images to a chat platform, with retries. */
const DELIVERY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Process metrics (CPU, memory, handles, GC) and `nodejs_eventloop_lag_seconds`.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  let readEngine: (() => EngineStatsSnapshot) | undefined;
  let readFollower: (() => FollowerStatsSnapshot) | undefined;
  let readFleet: (() => Promise<FleetCountsSnapshot>) | undefined;
  /** One store read per scrape for the three fleet gauges; undefined when it failed. */
  let fleetScrape: Promise<FleetCountsSnapshot | undefined> | undefined;
  const fleetCounts = (): Promise<FleetCountsSnapshot | undefined> => {
    if (readFleet === undefined) return Promise.resolve(undefined);
    fleetScrape ??= readFleet()
      .catch(() => undefined)
      .finally(() => {
        // Shared by the gauges of this scrape only: the next scrape reads again.
        setImmediate(() => {
          fleetScrape = undefined;
        });
      });
    return fleetScrape;
  };

  const jobs = new Counter({
    name: 'nano_banana_jobs_total',
    help: 'Jobs that reached a final state, by outcome (done, failed, cancelled, undelivered) and error code',
    labelNames: ['outcome', 'code'] as const,
    registers,
  });
  new Gauge({
    name: 'nano_banana_queue_depth',
    help: 'Jobs waiting for a slot',
    registers,
    collect() {
      if (readEngine !== undefined) this.set(readEngine().queued);
    },
  });
  new Gauge({
    name: 'nano_banana_jobs_in_flight',
    help: 'Jobs holding a slot (creating, following their task or delivering)',
    registers,
    collect() {
      if (readEngine !== undefined) this.set(readEngine().inFlight);
    },
  });
  const fleetGauge = (name: string, help: string, pick: (counts: FleetCountsSnapshot) => number) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const counts = await fleetCounts();
        if (counts !== undefined) this.set(pick(counts));
      },
    });
  fleetGauge(
    'nano_banana_fleet_queue_depth',
    'Jobs waiting for a slot in the whole fleet (every process over the same store)',
    (counts) => counts.queued,
  );
  fleetGauge(
    'nano_banana_fleet_jobs_running',
    'Jobs holding a slot in the whole fleet (NANO_BANANA_MAX_CONCURRENT_JOBS bounds it)',
    (counts) => counts.running,
  );
  fleetGauge(
    'nano_banana_fleet_jobs_late',
    'Jobs past their timeout whose task is still followed, outside the slots, in the whole fleet',
    (counts) => counts.late,
  );
  new Gauge({
    name: 'nano_banana_engine_paused',
    help: '1 while new creates wait because the API said the balance is used up',
    registers,
    collect() {
      if (readEngine !== undefined) this.set(readEngine().paused ? 1 : 0);
    },
  });
  const createSeconds = new Histogram({
    name: 'nano_banana_api_create_seconds',
    help: 'Time for the image API to answer a create, by whether it succeeded',
    labelNames: ['ok'] as const,
    buckets: CREATE_BUCKETS,
    registers,
  });
  // The follower keeps a running total, and a Counter cannot be set: on each scrape the counter
  // is raised by what the total grew since the last scrape. It stays a true counter (monotonic,
  // `rate()` works); should the total ever fall (a new follower), the new total is all new.
  let retrievalsSeen = 0;
  new Counter({
    name: 'nano_banana_task_retrievals_total',
    help: 'Rounds of task retrievals sent to the image API',
    registers,
    collect() {
      if (readFollower === undefined) return;
      const total = readFollower().retrievals;
      const growth = total >= retrievalsSeen ? total - retrievalsSeen : total;
      if (growth > 0) this.inc(growth);
      retrievalsSeen = total;
    },
  });
  new Gauge({
    name: 'nano_banana_tasks_followed',
    help: 'Tasks the follower is waiting on',
    registers,
    collect() {
      if (readFollower !== undefined) this.set(readFollower().size);
    },
  });
  const deliverySeconds = new Histogram({
    name: 'nano_banana_delivery_seconds',
    help: 'Time to hand finished images to a chat platform, by platform',
    labelNames: ['platform'] as const,
    buckets: DELIVERY_BUCKETS,
    registers,
  });
  const claimWaitSeconds = new Histogram({
    name: 'nano_banana_claim_wait_seconds',
    help: 'Time from a job becoming eligible (accepted, or back in line) to this process claiming it',
    buckets: CLAIM_WAIT_BUCKETS,
    registers,
  });
  const callbacks = new Counter({
    name: 'nano_banana_callbacks_total',
    help: 'Callbacks received from the image API, by whether a job took them',
    labelNames: ['accepted'] as const,
    registers,
  });

  // Series that exist from the start, so that `rate()` and alerts see a 0 rather than nothing.
  jobs.inc({ outcome: 'done', code: 'none' }, 0);
  callbacks.inc({ accepted: 'true' }, 0);
  callbacks.inc({ accepted: 'false' }, 0);

  return {
    registry,
    observeEngine(read) {
      readEngine = read;
    },
    observeFollower(read) {
      readFollower = read;
    },
    observeFleet(read) {
      readFleet = read;
    },
    bindEngine(engine) {
      const onFinished = (job: MeasuredJob): void => {
        jobs.inc({ outcome: job.state, code: job.error?.code ?? 'none' });
      };
      const onCreated = (durationMs: number, ok: boolean): void => {
        createSeconds.observe({ ok: String(ok) }, durationMs / 1000);
      };
      const onDelivered = (job: MeasuredJob, durationMs: number): void => {
        deliverySeconds.observe({ platform: job.platform }, durationMs / 1000);
      };
      const onClaimed = (_job: MeasuredJob, waitMs: number): void => {
        claimWaitSeconds.observe(Math.max(0, waitMs) / 1000);
      };
      engine.on('finished', onFinished);
      engine.on('created', onCreated);
      engine.on('delivered', onDelivered);
      engine.on('claimed', onClaimed);
      readEngine = () => engine.stats;
      return () => {
        engine.off('finished', onFinished);
        engine.off('created', onCreated);
        engine.off('delivered', onDelivered);
        engine.off('claimed', onClaimed);
      };
    },
    recordCallback(accepted) {
      callbacks.inc({ accepted: String(accepted) });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
