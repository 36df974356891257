import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import type { Job, JobState } from '../src/core/jobs/job.js';
import type { Admission, ClaimRequest, JobStore, StoreEvent } from '../src/core/jobs/store.js';

/**
 * The contract every JobStore keeps, run against each implementation (SQLite here, PostgreSQL in
 * its own file): the engine relies on exactly these rules, whichever store runs under it.
 */

export interface StoreUnderTest {
  readonly store: JobStore;
  /**
   * Opens a second, independent connection (or pool) to the same database, when the store can
   * have several: the races then run across connections, as across processes.
   */
  readonly another?: (() => Promise<JobStore>) | undefined;
  /**
   * Writes raw text into one column of one job, behind the store's back (a hand edit, another
   * version's write), for the corrupt-row check; undefined where nothing else can reach the
   * database (SQLite's `:memory:`, whose file variant runs the check).
   */
  readonly setColumn?: ((jobId: string, column: string, text: string) => Promise<void>) | undefined;
  close(): Promise<void>;
}

export const DAY = '2026-11-24';
const NEXT_DAY = '2026-11-25';

/** A minimal job: every optional field left undefined. */
export function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    id: 'job-1',
    platform: 'discord',
    dedupKey: undefined,
    requesterId: 'user-1',
    serverId: undefined,
    channelId: 'channel-1',
    locale: 'en',
    requesterIsAdmin: false,
    action: 'generate',
    prompt: 'a banana',
    options: { model: 'nano-banana' },
    inputs: [],
    destination: undefined,
    parentJobId: undefined,
    state: 'queued',
    createdAt: 1_000,
    updatedAt: 1_000,
    startedAt: undefined,
    finishedAt: undefined,
    taskId: undefined,
    traceId: undefined,
    callbackToken: 'token-1',
    reservedImages: 1,
    quotaDay: DAY,
    result: undefined,
    error: undefined,
    delivery: undefined,
    deliveryAttempts: 0,
    timeoutNotified: false,
    ...overrides,
  };
}

/** Every field set, with nested JSON in each JSON column. */
export function makeFullJob(): Job {
  return makeJob({
    id: 'job-full',
    platform: 'slack',
    dedupKey: 'slack:event:42',
    requesterId: 'U123',
    serverId: 'T456',
    channelId: 'C789',
    locale: 'pt-BR',
    requesterIsAdmin: true,
    action: 'edit',
    prompt: 'make it 🍌 "quoted" and\nmultiline',
    options: { model: 'nano-banana-pro', aspectRatio: '16:9', resolution: '4K', count: 3 },
    inputs: [
      { kind: 'url', url: 'https://example.com/a.png' },
      { kind: 'platform', ref: 'F0001', name: 'photo.jpg' },
      { kind: 'platform', ref: 'F0002' },
    ],
    destination: { thread: 'T1', messages: [1, 2, { nested: true, empty: null }], expiry: 99 },
    parentJobId: 'job-parent',
    state: 'delivering',
    createdAt: 1_732_406_400_000,
    updatedAt: 1_732_406_460_000,
    startedAt: 1_732_406_401_000,
    finishedAt: 1_732_406_459_000,
    taskId: 'task-abc',
    traceId: 'trace-def',
    callbackToken: 'secret-token',
    reservedImages: 3,
    quotaDay: DAY,
    result: { images: [{ url: 'https://cdn/1.png' }, { url: 'https://cdn/2.png' }], traceId: 't' },
    error: { code: 'rate_limited', params: { seconds: 30, models: ['a', 'b'] }, traceId: 'e' },
    delivery: { messageIds: ['m1', 'm2'], attempts: [{ at: 5 }] },
    deliveryAttempts: 2,
    timeoutNotified: true,
  });
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const NOW = 10_000;
const LEASE = 60_000;

function claimRequest(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    owner: 'process-a',
    platforms: ['discord', 'slack'],
    maxConcurrent: 100,
    maxPerUser: 100,
    now: NOW,
    leaseUntil: NOW + LEASE,
    ...overrides,
  };
}

export function describeStoreContract(
  name: string,
  open: () => Promise<StoreUnderTest>,
  /** Whether `open` gives a `setColumn` (a store another connection can write behind its back). */
  options: { readonly rowsWritableBehindItsBack?: boolean } = {},
): void {
  const corruptible = options.rowsWritableBehindItsBack ?? true;
  describe(`JobStore contract: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: JobStore;
    const extraStores: JobStore[] = [];

    beforeEach(async () => {
      subject = await open();
      store = subject.store;
    });

    afterEach(async () => {
      for (const extra of extraStores.splice(0)) await extra.close();
      await subject.close();
    });

    /** `count` stores to race with: independent connections when the store has them. */
    async function racers(count: number): Promise<JobStore[]> {
      const another = subject.another;
      if (another === undefined) return Array.from({ length: count }, () => store);
      const opened = await Promise.all(Array.from({ length: count }, () => another()));
      extraStores.push(...opened);
      return opened;
    }

    async function insertAll(jobs: Partial<Job>[]): Promise<void> {
      for (const job of jobs) await store.insert(makeJob(job));
    }

    /** Claims until nothing more may start; the ids in claim order. */
    async function claimAll(overrides: Partial<ClaimRequest> = {}): Promise<string[]> {
      const claimed: string[] = [];
      for (let attempt = 0; attempt < 100; attempt++) {
        const job = await store.claimNext(claimRequest(overrides));
        if (job === undefined) return claimed;
        claimed.push(job.id);
      }
      throw new Error('claimNext never ran out of jobs');
    }

    function positionsInOrder(positions: Map<string, number>): string[] {
      return [...positions.entries()]
        .sort((first, second) => first[1] - second[1])
        .map(([id]) => id);
    }

    it('says what it is and answers a ping', async () => {
      expect(['sqlite', 'postgres']).toContain(store.kind);
      expect(await store.ping()).toBe(true);
    });

    describe('jobs', () => {
      it('round-trips a job with every field set, and a minimal one, without a lease', async () => {
        const full = makeFullJob();
        const outcome = await store.insert(full);
        expect(outcome).toStrictEqual({ job: full, inserted: true });
        expect(await store.get(full.id)).toStrictEqual(full);
        expect(await store.getByDedupKey('slack:event:42')).toStrictEqual(full);
        const minimal = makeJob({ destination: null, delivery: null });
        expect((await store.insert(minimal)).job).toStrictEqual(minimal);
        expect(await store.get(minimal.id)).toStrictEqual(minimal);
        expect(await store.get('missing')).toBeUndefined();
        expect(await store.getByDedupKey('missing')).toBeUndefined();
      });

      it('returns the existing job for a taken dedup key without writing', async () => {
        const first = makeJob({ id: 'first', dedupKey: 'discord:1', prompt: 'first' });
        await store.insert(first);
        const again = await store.insert(makeJob({ id: 'second', dedupKey: 'discord:1' }));
        expect(again).toStrictEqual({ job: first, inserted: false });
        expect(await store.get('second')).toBeUndefined();
        expect(await store.insert(makeJob({ id: 'a' }))).toMatchObject({ inserted: true });
        expect(await store.insert(makeJob({ id: 'b' }))).toMatchObject({ inserted: true });
      });

      it('inserts one job of 20 concurrent inserts with one dedup key', async () => {
        const stores = await racers(20);
        const outcomes = await Promise.all(
          stores.map((racer, index) =>
            racer.insert(makeJob({ id: `racer-${index}`, dedupKey: 'slack:event:7' })),
          ),
        );
        const inserted = outcomes.filter((outcome) => outcome.inserted);
        expect(inserted).toHaveLength(1);
        const winner = inserted[0]?.job.id;
        expect(outcomes.map((outcome) => outcome.job.id)).toEqual(Array(20).fill(winner));
        expect((await store.listByState(['queued'])).map((job) => job.id)).toEqual([winner]);
      });

      it('updates only the patched fields and updatedAt, clearing nullable ones', async () => {
        const job = makeFullJob();
        await store.insert(job);
        const updated = await store.update(
          job.id,
          { taskId: undefined, deliveryAttempts: 3, error: { code: 'timeout', params: {} } },
          5_000,
        );
        expect(updated).toStrictEqual({
          ...job,
          taskId: undefined,
          deliveryAttempts: 3,
          error: { code: 'timeout', params: {} },
          updatedAt: 5_000,
        });
        expect(await store.get(job.id)).toStrictEqual(updated);
        expect(await store.update('missing', { taskId: 'x' }, 1)).toBeUndefined();
      });

      it('lets only one of two racing transitions win', async () => {
        await store.insert(makeJob());
        const [started, cancelled] = await Promise.all([
          store.transition('job-1', ['queued'], { state: 'creating', startedAt: 2_000 }, 2_000),
          store.transition('job-1', ['queued'], { state: 'cancelled' }, 2_001),
        ]);
        expect(started?.state).toBe('creating');
        expect(started?.updatedAt).toBe(2_000);
        expect(cancelled).toBeUndefined();
        expect((await store.get('job-1'))?.state).toBe('creating');
        expect(await store.transition('missing', ['queued'], { state: 'done' }, 3)).toBeUndefined();
        expect(await store.transition('job-1', [], { state: 'failed' }, 3)).toBeUndefined();
        expect(
          (await store.transition('job-1', ['queued', 'creating'], { state: 'running' }, 4))?.state,
        ).toBe('running');
      });

      it('tells only the first of 20 concurrent callers of a timeout, never for a final job', async () => {
        await insertAll([
          { id: 'late', state: 'running' },
          { id: 'finished', state: 'done' },
        ]);
        const stores = await racers(20);
        const answers = await Promise.all(
          stores.map((racer) => racer.markTimeoutNotified('late', 7_000)),
        );
        const told = answers.filter((answer) => answer !== undefined);
        expect(told).toHaveLength(1);
        expect(told[0]).toMatchObject({ id: 'late', timeoutNotified: true, updatedAt: 7_000 });
        expect(await store.markTimeoutNotified('late', 8_000)).toBeUndefined();
        expect(await store.markTimeoutNotified('finished', 8_000)).toBeUndefined();
        expect((await store.get('finished'))?.timeoutNotified).toBe(false);
        expect(await store.markTimeoutNotified('missing', 8_000)).toBeUndefined();
      });

      it('lists by state oldest first, and unfinished jobs created before a time', async () => {
        await insertAll([
          { id: 'late', createdAt: 3_000 },
          { id: 'early', createdAt: 1_000, state: 'running' },
          { id: 'middle', createdAt: 2_000, state: 'creating' },
          { id: 'finished', createdAt: 500, state: 'done' },
          { id: 'newest', createdAt: 9_000, state: 'delivering' },
        ]);
        const ids = async (states: readonly JobState[]) =>
          (await store.listByState(states)).map((job) => job.id);
        expect(await ids(['queued', 'running', 'creating'])).toEqual(['early', 'middle', 'late']);
        expect(await ids(['done'])).toEqual(['finished']);
        expect(await ids([])).toEqual([]);
        const createdBefore = async (time: number, limit: number) =>
          (await store.listUnfinishedCreatedBefore(time, limit)).map((job) => job.id);
        expect(await createdBefore(3_000, 10)).toEqual(['early', 'middle', 'late']);
        expect(await createdBefore(2_999, 10)).toEqual(['early', 'middle']);
        expect(await createdBefore(10_000, 2)).toEqual(['early', 'middle']);
        expect(await createdBefore(10_000, 0)).toEqual([]);
      });

      it('sums reservations per scope and day, ranks top users, counts unfinished jobs', async () => {
        await insertAll([
          { id: 'a1', requesterId: 'alice', serverId: 'guild-1', reservedImages: 2 },
          { id: 'a2', requesterId: 'alice', serverId: 'guild-2', reservedImages: 4 },
          { id: 'a3', requesterId: 'alice', serverId: undefined, reservedImages: 1 },
          { id: 'b1', requesterId: 'bob', serverId: 'guild-1', reservedImages: 3, state: 'done' },
          { id: 'c1', requesterId: 'carol', serverId: 'guild-1', reservedImages: 0 },
          { id: 'n1', requesterId: 'alice', reservedImages: 10, quotaDay: NEXT_DAY },
        ]);
        expect(await store.reservedImages({ day: DAY })).toBe(10);
        expect(await store.reservedImages({ day: DAY, requesterId: 'alice' })).toBe(7);
        expect(await store.reservedImages({ day: DAY, serverId: 'guild-1' })).toBe(5);
        expect(await store.reservedImages({ day: DAY, directMessages: true })).toBe(1);
        expect(
          await store.reservedImages({ day: DAY, requesterId: 'alice', serverId: 'guild-1' }),
        ).toBe(2);
        expect(await store.reservedImages({ day: NEXT_DAY })).toBe(10);
        expect(await store.topUsers(DAY, undefined, 10)).toEqual([
          { requesterId: 'alice', images: 7 },
          { requesterId: 'bob', images: 3 },
        ]);
        expect(await store.topUsers(DAY, 'guild-1', 1)).toEqual([
          { requesterId: 'bob', images: 3 },
        ]);
        expect(await store.topUsers(DAY, undefined, 0)).toEqual([]);
        expect(await store.unfinishedJobs('alice')).toBe(4);
        expect(await store.unfinishedJobs('bob')).toBe(0);
      });

      it('prunes final jobs updated before the cutoff, and deletes one job', async () => {
        await insertAll([
          { id: 'old-done', state: 'done', updatedAt: 100 },
          { id: 'old-undelivered', state: 'undelivered', updatedAt: 300 },
          { id: 'old-running', state: 'running', updatedAt: 100 },
          { id: 'old-queued', updatedAt: 100 },
          { id: 'at-cutoff', state: 'failed', updatedAt: 1_000 },
          { id: 'gone', dedupKey: 'key' },
        ]);
        await store.acquireLock('claim:old', 'process-a', 0, 999);
        await store.acquireLock('claim:live', 'process-a', 0, 5_000);
        // Counted as of time 0, when both were live.
        expect(await store.countLocks('claim:', 0)).toBe(2);
        expect(await store.prune(1_000)).toBe(2);
        // The lease expired before the cutoff is gone; the other stays.
        expect(await store.countLocks('claim:', 0)).toBe(1);
        expect(await store.lockHolder('claim:live', 1_000)).toBe('process-a');
        expect(await store.get('old-done')).toBeUndefined();
        expect(await store.get('old-undelivered')).toBeUndefined();
        for (const id of ['old-running', 'old-queued', 'at-cutoff']) {
          expect((await store.get(id))?.id).toBe(id);
        }
        expect(await store.prune(1_000)).toBe(0);
        expect(await store.delete('gone')).toBe(true);
        expect(await store.delete('gone')).toBe(false);
        expect(await store.get('gone')).toBeUndefined();
        expect((await store.insert(makeJob({ id: 'again', dedupKey: 'key' }))).inserted).toBe(true);
      });

      // Registered only where a row can be corrupted (not in a private `:memory:` database).
      if (corruptible) {
        it('refuses to read a row whose JSON is corrupt, naming the job and column', async () => {
          const setColumn = subject.setColumn;
          if (setColumn === undefined) throw new Error('this store under test gives no setColumn');
          await insertAll([{ id: 'bad-json' }, { id: 'bad-shape' }]);
          await setColumn('bad-json', 'result', '{not json');
          await setColumn('bad-shape', 'options', '{"count": 2}');
          await expect(store.get('bad-json')).rejects.toThrow(
            /job bad-json, column result is not valid JSON/,
          );
          await expect(store.get('bad-shape')).rejects.toThrow(
            /job bad-shape, column options has the wrong shape/,
          );
          await expect(store.listByState(['queued'])).rejects.toThrow(/job bad-json|job bad-shape/);
        });
      }
    });

    describe('admission', () => {
      function admission(overrides: Partial<Admission> = {}): Admission {
        return {
          day: DAY,
          images: 1,
          quotas: [
            { scope: 'user', limit: 3, of: { day: DAY, requesterId: 'user-1' } },
            { scope: 'server', limit: 5, of: { day: DAY, serverId: 'guild-1' } },
            { scope: 'total', limit: 100, of: { day: DAY } },
          ],
          maxUnfinished: 10,
          ...overrides,
        };
      }

      it('refuses past a quota, scope by scope in order, with the limit and what remains', async () => {
        await insertAll([
          { id: 'mine', requesterId: 'user-1', serverId: 'guild-1', reservedImages: 2 },
          { id: 'theirs', requesterId: 'user-2', serverId: 'guild-1', reservedImages: 2 },
        ]);
        const job = makeJob({ id: 'new', serverId: 'guild-1', reservedImages: 2 });
        // 1 left for the user (3 - 2), 1 for the server (5 - 4): the user's scope speaks first.
        const refused = await rejection(store.insert(job, admission({ images: 2 })));
        expect(refused).toBeInstanceOf(NanoBananaError);
        expect(refused).toMatchObject({
          code: 'quota_exceeded',
          params: { scope: 'user', limit: 3, remaining: 1 },
        });
        expect(await store.get('new')).toBeUndefined();
        // Unlimited user scope: the server's turn.
        const serverRefusal = await rejection(
          store.insert(
            job,
            admission({
              images: 2,
              quotas: [
                { scope: 'user', limit: 0, of: { day: DAY, requesterId: 'user-1' } },
                { scope: 'server', limit: 5, of: { day: DAY, serverId: 'guild-1' } },
              ],
            }),
          ),
        );
        expect(serverRefusal).toMatchObject({
          code: 'quota_exceeded',
          params: { scope: 'server', limit: 5, remaining: 1 },
        });
        // Already over (a limit lowered since): nothing remains, never a negative count.
        const over = await rejection(
          store.insert(
            job,
            admission({
              quotas: [{ scope: 'dm', limit: 1, of: { day: DAY, serverId: 'guild-1' } }],
            }),
          ),
        );
        expect(over).toMatchObject({ params: { scope: 'dm', limit: 1, remaining: 0 } });
        expect(await store.get('new')).toBeUndefined();
        // It fits exactly: stored.
        const fits = await store.insert({ ...job, reservedImages: 1 }, admission({ images: 1 }));
        expect(fits.inserted).toBe(true);
        expect(await store.reservedImages({ day: DAY, requesterId: 'user-1' })).toBe(3);
      });

      it('refuses a user past the unfinished cap, after the quotas; final jobs do not count', async () => {
        await insertAll([
          { id: 'waiting', reservedImages: 0 },
          { id: 'working', state: 'running', reservedImages: 0 },
          { id: 'finished', state: 'done', reservedImages: 0 },
          { id: 'someone-else', requesterId: 'user-2', reservedImages: 0 },
        ]);
        const job = makeJob({ id: 'new', reservedImages: 0 });
        const refused = await rejection(store.insert(job, admission({ maxUnfinished: 2 })));
        expect(refused).toBeInstanceOf(NanoBananaError);
        expect(refused).toMatchObject({ code: 'too_many_queued', params: { max: 2 } });
        expect(await store.get('new')).toBeUndefined();
        // Both refuse: the quota is checked first.
        const both = await rejection(store.insert(job, admission({ maxUnfinished: 2, images: 4 })));
        expect(both).toMatchObject({ code: 'quota_exceeded' });
        expect((await store.insert(job, admission({ maxUnfinished: 3 }))).inserted).toBe(true);
        expect(
          (await store.insert(makeJob({ id: 'no-cap' }), admission({ maxUnfinished: undefined })))
            .inserted,
        ).toBe(true);
      });

      it('returns the job of a taken dedup key before any check', async () => {
        const first = makeJob({ id: 'first', dedupKey: 'discord:9', reservedImages: 3 });
        await store.insert(first);
        const again = await store.insert(
          makeJob({ id: 'second', dedupKey: 'discord:9' }),
          admission({ maxUnfinished: 0 }),
        );
        expect(again).toStrictEqual({ job: first, inserted: false });
      });

      it('grants a user last image once among 20 concurrent admissions', async () => {
        await store.insert(makeJob({ id: 'earlier', reservedImages: 2, serverId: 'guild-1' }));
        const stores = await racers(20);
        const outcomes = await Promise.allSettled(
          stores.map((racer, index) =>
            racer.insert(
              makeJob({ id: `racer-${index}`, serverId: 'guild-1', reservedImages: 1 }),
              admission(),
            ),
          ),
        );
        const granted = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        expect(granted).toHaveLength(1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') {
            expect(outcome.reason).toMatchObject({
              code: 'quota_exceeded',
              params: { scope: 'user', limit: 3, remaining: 0 },
            });
          }
        }
        expect(await store.reservedImages({ day: DAY, requesterId: 'user-1' })).toBe(3);
        expect(await store.listByState(['queued'])).toHaveLength(2);
      });

      it('stores a batch whole under one admission, or none of it', async () => {
        await store.insert(makeJob({ id: 'earlier', reservedImages: 1, serverId: 'guild-1' }));
        const batch = (prefix: string, size: number) =>
          Array.from({ length: size }, (_, index) =>
            makeJob({
              id: `${prefix}${index}`,
              serverId: 'guild-1',
              dedupKey: `${prefix}:${index}`,
            }),
          );
        // 2 images left for the user: a batch of 3 is refused whole, nothing stored.
        const refused = await rejection(
          store.insertMany(batch('big', 3), admission({ images: 3 })),
        );
        expect(refused).toMatchObject({ code: 'quota_exceeded', params: { remaining: 2 } });
        expect(await store.listByState(['queued'])).toHaveLength(1);
        // The unfinished cap must leave room for every job of the batch.
        const capped = await rejection(
          store.insertMany(batch('cap', 2), admission({ images: 2, maxUnfinished: 2 })),
        );
        expect(capped).toMatchObject({ code: 'too_many_queued', params: { max: 2 } });
        const outcomes = await store.insertMany(batch('ok', 2), admission({ images: 2 }));
        expect(outcomes.map((outcome) => [outcome.job.id, outcome.inserted])).toEqual([
          ['ok0', true],
          ['ok1', true],
        ]);
        // Queued in the order given: their places in line follow it.
        const positions = await store.queuePositions();
        expect(positions.get('ok0')).toBeLessThan(positions.get('ok1') ?? 0);
        // The same event again: the existing jobs, nothing inserted, no check made.
        const again = await store.insertMany(batch('ok', 2), admission({ maxUnfinished: 0 }));
        expect(again.map((outcome) => [outcome.job.id, outcome.inserted])).toEqual([
          ['ok0', false],
          ['ok1', false],
        ]);
        expect(await store.listByState(['queued'])).toHaveLength(3);
        expect(await store.insertMany([], admission())).toEqual([]);
      });

      it('grants a batch once among 10 concurrent batches racing for the last images', async () => {
        const stores = await racers(10);
        const outcomes = await Promise.allSettled(
          stores.map((racer, index) =>
            racer.insertMany(
              [0, 1, 2].map((n) => makeJob({ id: `r${index}-${n}` })),
              admission({ images: 3 }),
            ),
          ),
        );
        expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
        expect(await store.reservedImages({ day: DAY, requesterId: 'user-1' })).toBe(3);
        expect(await store.listByState(['queued'])).toHaveLength(3);
      });
    });

    describe('settings, history, the moderation log', () => {
      it('keeps settings documents per scope and key, replaces and deletes them', async () => {
        expect(await store.getSettings('server', 'discord:1')).toBeUndefined();
        const settings = { model: 'nano-banana-pro', channels: ['c1', 'c2'], privateResults: true };
        await store.putSettings('server', 'discord:1', settings, 1_000);
        await store.putSettings('user', 'discord:1', { suffix: 'é 🍌 "x"' }, 1_000);
        expect(await store.getSettings('server', 'discord:1')).toEqual(settings);
        expect(await store.getSettings('user', 'discord:1')).toEqual({ suffix: 'é 🍌 "x"' });
        expect(await store.getSettings('server', 'slack:1')).toBeUndefined();
        await store.putSettings('server', 'discord:1', { dailyImages: 5 }, 2_000);
        expect(await store.getSettings('server', 'discord:1')).toEqual({ dailyImages: 5 });
        await store.putSettings('server', 'discord:1', undefined, 3_000);
        expect(await store.getSettings('server', 'discord:1')).toBeUndefined();
        expect(await store.getSettings('user', 'discord:1')).toEqual({ suffix: 'é 🍌 "x"' });
      });

      it("lists a user's recent jobs on one platform, newest first", async () => {
        await insertAll([
          { id: 'old', createdAt: 1_000 },
          { id: 'mid', createdAt: 2_000, state: 'done' },
          { id: 'tie-a', createdAt: 3_000 },
          { id: 'tie-b', createdAt: 3_000 },
          { id: 'slack', createdAt: 4_000, platform: 'slack' },
          { id: 'other', createdAt: 5_000, requesterId: 'user-2' },
        ]);
        const ids = async (limit: number) =>
          (await store.recentJobs('user-1', 'discord', limit)).map((job) => job.id);
        expect(await ids(10)).toEqual(['tie-b', 'tie-a', 'mid', 'old']);
        expect(await ids(2)).toEqual(['tie-b', 'tie-a']);
        expect(await ids(0)).toEqual([]);
        expect(await store.recentJobs('user-1', 'slack', 10)).toMatchObject([{ id: 'slack' }]);
      });

      it('sums the images a user reserved over a range of days', async () => {
        await insertAll([
          { id: 'a', quotaDay: '2026-11-23', reservedImages: 2 },
          { id: 'b', quotaDay: DAY, reservedImages: 3 },
          { id: 'c', quotaDay: NEXT_DAY, reservedImages: 4 },
          { id: 'd', quotaDay: '2026-11-30', reservedImages: 8 },
          { id: 'e', quotaDay: DAY, reservedImages: 16, requesterId: 'user-2' },
        ]);
        expect(await store.reservedImagesBetween('user-1', '2026-11-23', '2026-11-29')).toBe(9);
        expect(await store.reservedImagesBetween('user-1', DAY, DAY)).toBe(3);
        expect(await store.reservedImagesBetween('user-1', '2026-12-01', '2026-12-07')).toBe(0);
      });

      it('keeps the moderation log outbox in order until lines are deleted', async () => {
        await store.appendAuditLines(
          [
            { platform: 'discord', channelId: 'a1', text: 'first' },
            { platform: 'slack', channelId: 'a2', text: 'second 🍌' },
          ],
          1_000,
        );
        await store.appendAuditLines([], 1_500);
        await store.appendAuditLines(
          [{ platform: 'discord', channelId: 'a1', text: 'third' }],
          2_000,
        );
        const pending = await store.pendingAuditLines(10);
        expect(
          pending.map((line) => [line.text, line.channelId, line.platform, line.createdAt]),
        ).toEqual([
          ['first', 'a1', 'discord', 1_000],
          ['second 🍌', 'a2', 'slack', 1_000],
          ['third', 'a1', 'discord', 2_000],
        ]);
        expect(await store.pendingAuditLines(1)).toEqual(pending.slice(0, 1));
        await store.deleteAuditLines(pending.slice(0, 2).map((line) => line.id));
        await store.deleteAuditLines([]);
        expect((await store.pendingAuditLines(10)).map((line) => line.text)).toEqual(['third']);
        await store.appendAuditLines(
          [{ platform: 'slack', channelId: 'a3', text: 'fourth' }],
          3_000,
        );
        const [third, fourth] = await store.pendingAuditLines(10);
        expect(fourth?.id).toBeGreaterThan(third?.id ?? Number.POSITIVE_INFINITY);
      });
    });

    describe('scheduling', () => {
      it('serves users round-robin, in the order queuePositions announced', async () => {
        // A with 5 jobs, B with 1, C with 2, queued in that order.
        const jobs: Partial<Job>[] = [
          ...[1, 2, 3, 4, 5].map((n) => ({ id: `A${n}`, requesterId: 'A' })),
          { id: 'B1', requesterId: 'B' },
          { id: 'C1', requesterId: 'C' },
          { id: 'C2', requesterId: 'C' },
        ];
        await insertAll(jobs);
        const announced = positionsInOrder(await store.queuePositions());
        const claimed = await claimAll();
        expect(claimed).toEqual(['A1', 'B1', 'C1', 'A2', 'C2', 'A3', 'A4', 'A5']);
        expect(announced).toEqual(claimed);
        expect((await store.queuePositions()).size).toBe(0);
      });

      it('gives one job the same place as the whole line, as the line moves', async () => {
        /** Every job's own answer against the whole line's, for each job ever inserted. */
        const ids: string[] = [];
        async function expectSamePlaces(): Promise<void> {
          const line = await store.queuePositions();
          const single = await Promise.all(ids.map((id) => store.queuePosition(id)));
          expect(Object.fromEntries(ids.map((id, index) => [id, single[index]]))).toEqual(
            Object.fromEntries(ids.map((id) => [id, line.get(id)])),
          );
        }
        // Users with lines of different lengths, queued interleaved; some claimed between rounds
        // (served users move back), one job done, one leased: neither has a place.
        const users = ['A', 'B', 'C', 'D'];
        for (let round = 0; round < 4; round++) {
          for (const [index, user] of users.entries()) {
            for (let n = 0; n <= (index + round) % 3; n++) {
              const id = `${user}${round}-${n}`;
              ids.push(id);
              await store.insert(makeJob({ id, requesterId: user }));
            }
          }
          await expectSamePlaces();
          await store.claimNext(claimRequest({ owner: `process-${round}` }));
          await store.claimNext(claimRequest({ owner: `process-${round}` }));
          await expectSamePlaces();
        }
        await store.transition(ids[ids.length - 1] ?? '', ['queued'], { state: 'done' }, NOW);
        await expectSamePlaces();
        expect(await store.queuePosition('missing')).toBeUndefined();
        expect([...(await store.queuePositions()).values()].sort((a, b) => a - b)).toEqual(
          Array.from({ length: (await store.queuePositions()).size }, (_, index) => index + 1),
        );
      });

      it('puts a user who was just served behind those who were waiting', async () => {
        await insertAll([
          { id: 'A1', requesterId: 'A' },
          { id: 'A2', requesterId: 'A' },
        ]);
        expect((await store.claimNext(claimRequest()))?.id).toBe('A1');
        // A was served before B's job was queued: A2 comes first, as in the in-memory queue.
        await insertAll([{ id: 'B1', requesterId: 'B' }]);
        expect(positionsInOrder(await store.queuePositions())).toEqual(['A2', 'B1']);
        await insertAll([{ id: 'C1', requesterId: 'C' }]);
        expect(await claimAll()).toEqual(['A2', 'B1', 'C1']);
      });

      it('leaves a claimed job queued, leased, out of the positions, not claimable twice', async () => {
        await insertAll([{ id: 'only' }]);
        const claimed = await store.claimNext(claimRequest());
        expect(claimed).toMatchObject({
          id: 'only',
          state: 'queued',
          leaseOwner: 'process-a',
          leaseUntil: NOW + LEASE,
        });
        expect(await store.get('only')).toStrictEqual(claimed);
        expect((await store.queuePositions()).size).toBe(0);
        expect(await store.claimNext(claimRequest({ owner: 'process-b' }))).toBeUndefined();
        expect(await store.counts()).toEqual({ queued: 0, running: 1, late: 0 });
        // Its lease expired (the claimer died before starting it): claimable again, and the dead
        // claim holds no slot (one slot in all, one per user).
        const later = NOW + LEASE + 1;
        const reclaimed = await store.claimNext(
          claimRequest({
            owner: 'process-b',
            now: later,
            leaseUntil: later + LEASE,
            maxConcurrent: 1,
            maxPerUser: 1,
          }),
        );
        expect(reclaimed).toMatchObject({ id: 'only', leaseOwner: 'process-b' });
      });

      it('claims only jobs of the given platforms', async () => {
        await insertAll([
          { id: 'slack-job', platform: 'slack', requesterId: 'A' },
          { id: 'discord-job', platform: 'discord', requesterId: 'B' },
        ]);
        expect(await claimAll({ platforms: ['discord'] })).toEqual(['discord-job']);
        expect(await claimAll({ platforms: [] })).toEqual([]);
        expect(await claimAll({ platforms: ['slack'] })).toEqual(['slack-job']);
      });

      it('never exceeds the global limit under 20 concurrent claims', async () => {
        await insertAll(
          Array.from({ length: 30 }, (_, index) => ({
            id: `job-${index}`,
            requesterId: `user-${index % 10}`,
          })),
        );
        // One slot is already taken by a job in flight.
        await insertAll([{ id: 'in-flight', state: 'running', requesterId: 'user-x' }]);
        const stores = await racers(20);
        const claims = await Promise.all(
          stores.map((racer, index) =>
            racer.claimNext(claimRequest({ owner: `process-${index}`, maxConcurrent: 4 })),
          ),
        );
        const claimed = claims.filter((job) => job !== undefined).map((job) => job.id);
        expect(claimed).toHaveLength(3);
        expect(new Set(claimed).size).toBe(3);
        expect(await store.counts()).toEqual({ queued: 27, running: 4, late: 0 });
      });

      it('never exceeds the per-user limit under 20 concurrent claims', async () => {
        await insertAll([
          ...Array.from({ length: 10 }, (_, index) => ({ id: `A${index}`, requesterId: 'A' })),
          { id: 'A-running', requesterId: 'A', state: 'creating' as const },
          { id: 'B1', requesterId: 'B' },
        ]);
        const stores = await racers(20);
        const claims = await Promise.all(
          stores.map((racer, index) =>
            racer.claimNext(claimRequest({ owner: `process-${index}`, maxPerUser: 3 })),
          ),
        );
        const claimed = claims
          .filter((job) => job !== undefined)
          .map((job) => job.id)
          .sort();
        expect(claimed).toEqual(['A0', 'A1', 'B1']);
      });

      it('follows a late job outside the limits', async () => {
        await insertAll([
          { id: 'late-running', state: 'running', timeoutNotified: true, requesterId: 'A' },
          { id: 'late-delivering', state: 'delivering', timeoutNotified: true, requesterId: 'A' },
          // Told it timed out while creating: no task yet known, it still holds its slot.
          { id: 'late-creating', state: 'creating', timeoutNotified: true, requesterId: 'B' },
          { id: 'next', requesterId: 'A' },
        ]);
        expect(await store.counts()).toEqual({ queued: 1, running: 1, late: 2 });
        // One slot: the creating job holds it.
        expect(await claimAll({ maxConcurrent: 1 })).toEqual([]);
        // Two slots (one per user): one is free despite two late jobs of A's.
        expect(await claimAll({ maxConcurrent: 2, maxPerUser: 1 })).toEqual(['next']);
      });

      it('gives a requeued job a new place, behind the user other jobs, and frees its lease', async () => {
        await insertAll([
          { id: 'A1', requesterId: 'A' },
          { id: 'A2', requesterId: 'A' },
        ]);
        const claimed = await store.claimNext(claimRequest());
        expect(claimed?.id).toBe('A1');
        await store.transition('A1', ['queued'], { state: 'creating' }, NOW, 'process-a');
        // The API refused the create for now: back in line.
        const back = await store.transition(
          'A1',
          ['creating'],
          { state: 'queued' },
          NOW + 1,
          'process-a',
        );
        expect(back?.state).toBe('queued');
        expect(back?.leaseOwner).toBeUndefined();
        expect(back?.leaseUntil).toBeUndefined();
        expect(positionsInOrder(await store.queuePositions())).toEqual(['A2', 'A1']);
        expect(await claimAll()).toEqual(['A2', 'A1']);
      });

      it('clears the lease at a final state', async () => {
        await insertAll([{ id: 'job' }]);
        await store.claimNext(claimRequest());
        await store.transition('job', ['queued'], { state: 'running' }, NOW, 'process-a');
        const done = await store.transition(
          'job',
          ['running'],
          { state: 'done' },
          NOW,
          'process-a',
        );
        expect(done?.state).toBe('done');
        expect(done?.leaseOwner).toBeUndefined();
        expect(await store.renewLeases('process-a', NOW + 2 * LEASE, NOW)).toBe(0);
      });

      it('guards transitions by the lease owner', async () => {
        await insertAll([{ id: 'job' }]);
        await store.claimNext(claimRequest());
        expect(
          await store.transition('job', ['queued'], { state: 'creating' }, NOW, 'process-b'),
        ).toBeUndefined();
        expect((await store.get('job'))?.state).toBe('queued');
        const creating = await store.transition(
          'job',
          ['queued'],
          { state: 'creating' },
          NOW,
          'process-a',
        );
        expect(creating).toMatchObject({ state: 'creating', leaseOwner: 'process-a' });
        // Process A stalls past its lease; B takes the job over: A may no longer act on it.
        const later = NOW + LEASE + 1;
        const taken = await store.takeOverExpired({
          owner: 'process-b',
          now: later,
          leaseUntil: later + LEASE,
          platforms: ['discord'],
          limit: 10,
        });
        expect(taken.map((job) => job.id)).toEqual(['job']);
        expect(
          await store.transition('job', ['creating'], { state: 'running' }, later, 'process-a'),
        ).toBeUndefined();
        expect(
          (await store.transition('job', ['creating'], { state: 'failed' }, later, 'process-b'))
            ?.state,
        ).toBe('failed');
      });

      it('takes over the jobs of a process whose leases expired', async () => {
        await insertAll([
          { id: 'A1', requesterId: 'A', createdAt: 1 },
          { id: 'A2', requesterId: 'A', createdAt: 2 },
          { id: 'B1', requesterId: 'B', createdAt: 3 },
          { id: 'C1', requesterId: 'C', createdAt: 4 },
          { id: 'D1', requesterId: 'D', createdAt: 5, platform: 'slack' },
        ]);
        // Process A claims A1 (stays queued), B1 (runs) and C1 (creating), then dies.
        expect(await claimAll({ maxPerUser: 1, platforms: ['discord'] })).toEqual([
          'A1',
          'B1',
          'C1',
        ]);
        await store.transition(
          'B1',
          ['queued'],
          { state: 'running', taskId: 't' },
          NOW,
          'process-a',
        );
        await store.transition('C1', ['queued'], { state: 'creating' }, NOW, 'process-a');
        // Process B's own lease is alive: never taken.
        await insertAll([{ id: 'E1', requesterId: 'E' }]);
        await store.claimNext(
          claimRequest({
            owner: 'process-b',
            leaseUntil: NOW + 3 * LEASE,
            platforms: ['discord'],
            maxPerUser: 1,
          }),
        );
        await store.transition('E1', ['queued'], { state: 'running' }, NOW, 'process-b');

        // Not expired yet: nothing to take.
        const early = { owner: 'process-c', platforms: ['discord'], limit: 10 };
        expect(
          await store.takeOverExpired({ ...early, now: NOW + LEASE, leaseUntil: NOW + 2 * LEASE }),
        ).toEqual([]);

        const later = NOW + LEASE + 1;
        const taken = await store.takeOverExpired({
          ...early,
          now: later,
          leaseUntil: later + LEASE,
        });
        // The running job continues; the creating one is returned for the engine to fail.
        expect(taken.map((job) => [job.id, job.state, job.leaseOwner, job.leaseUntil])).toEqual([
          ['B1', 'running', 'process-c', later + LEASE],
          ['C1', 'creating', 'process-c', later + LEASE],
        ]);
        // The queued one waits in line again, keeping its place ahead of A2.
        const a1 = await store.get('A1');
        expect(a1?.state).toBe('queued');
        expect(a1?.leaseOwner).toBeUndefined();
        expect(positionsInOrder(await store.queuePositions())).toEqual(['D1', 'A1', 'A2']);
        expect(
          await store.claimNext(
            claimRequest({ now: later, leaseUntil: later + LEASE, platforms: ['discord'] }),
          ),
        ).toMatchObject({ id: 'A1' });
        expect((await store.get('E1'))?.leaseOwner).toBe('process-b');
      });

      it('takes over at most the limit, only of its platforms, and every lease with allOwners', async () => {
        await insertAll([
          { id: 'one', state: 'running', createdAt: 1 },
          { id: 'two', state: 'delivering', createdAt: 2 },
          { id: 'slack', state: 'running', platform: 'slack', createdAt: 3 },
          { id: 'done', state: 'done', createdAt: 4 },
        ]);
        // Jobs in flight that nobody leases (released, or from before leases) are taken over.
        const request = { now: NOW, leaseUntil: NOW + LEASE, platforms: ['discord'] };
        const first = await store.takeOverExpired({ ...request, owner: 'process-a', limit: 1 });
        expect(first.map((job) => job.id)).toEqual(['one']);
        expect(await store.takeOverExpired({ ...request, owner: 'process-a', limit: 0 })).toEqual(
          [],
        );
        const rest = await store.takeOverExpired({ ...request, owner: 'process-b', limit: 10 });
        expect(rest.map((job) => job.id)).toEqual(['two']);
        // Live leases, taken only with allOwners (the embedded store's one process, at start).
        expect(await store.takeOverExpired({ ...request, owner: 'process-c', limit: 10 })).toEqual(
          [],
        );
        const all = await store.takeOverExpired({
          ...request,
          owner: 'process-c',
          limit: 10,
          platforms: ['discord', 'slack'],
          allOwners: true,
        });
        expect(all.map((job) => [job.id, job.leaseOwner])).toEqual([
          ['one', 'process-c'],
          ['two', 'process-c'],
          ['slack', 'process-c'],
        ]);
      });

      it('renews the owner leases and releases them on a clean stop', async () => {
        await insertAll([
          { id: 'A1', requesterId: 'A' },
          { id: 'B1', requesterId: 'B' },
          { id: 'C1', requesterId: 'C' },
        ]);
        await store.claimNext(claimRequest({ owner: 'process-a' }));
        await store.claimNext(claimRequest({ owner: 'process-a' }));
        await store.claimNext(claimRequest({ owner: 'process-b' }));
        await store.transition('A1', ['queued'], { state: 'running' }, NOW, 'process-a');
        expect(await store.renewLeases('process-a', NOW + 5 * LEASE, NOW)).toBe(2);
        expect((await store.get('A1'))?.leaseUntil).toBe(NOW + 5 * LEASE);
        expect((await store.get('C1'))?.leaseUntil).toBe(NOW + LEASE);
        const afterFirstLease = NOW + LEASE + 1;
        const takeOver = {
          owner: 'process-c',
          now: afterFirstLease,
          leaseUntil: afterFirstLease + LEASE,
          platforms: ['discord'],
          limit: 10,
        };
        expect(await store.takeOverExpired(takeOver)).toEqual([]);
        expect(await store.renewLeases('process-z', NOW + 5 * LEASE, NOW)).toBe(0);

        expect(await store.releaseLeases('process-a', NOW)).toBe(2);
        // Released: another process takes the running job at once, and B1 is waiting again.
        const taken = await store.takeOverExpired({ ...takeOver, now: NOW + 1 });
        expect(taken.map((job) => job.id)).toEqual(['A1']);
        // B1 released, C1's expired claim cleared by the first takeover: both wait again.
        expect(positionsInOrder(await store.queuePositions())).toEqual(['B1', 'C1']);
      });
    });

    describe('shared state', () => {
      it('counts the live locks whose names start with a prefix, wildcards taken literally', async () => {
        expect(await store.countLocks('discord-process:', NOW)).toBe(0);
        await store.acquireLock('discord-process:a', 'a', NOW, NOW + 100);
        await store.acquireLock('discord-process:b', 'b', NOW, NOW + 300);
        await store.acquireLock('discord-processes', 'c', NOW, NOW + 300);
        await store.acquireLock('discord-shard:0/1', 'a', NOW, NOW + 300);
        expect(await store.countLocks('discord-process:', NOW)).toBe(2);
        // a's lease has expired.
        expect(await store.countLocks('discord-process:', NOW + 101)).toBe(1);
        expect(await store.countLocks('discord-process', NOW + 101)).toBe(2);
        expect(await store.countLocks('discord-%', NOW)).toBe(0);
        expect(await store.countLocks('discord-process_', NOW)).toBe(0);
        await store.releaseLock('discord-process:b', 'b');
        expect(await store.countLocks('discord-process:', NOW)).toBe(1);
      });

      it('holds a named lock when free, expired or already the owner, and releases it', async () => {
        expect(await store.lockHolder('prune', NOW)).toBeUndefined();
        expect(await store.acquireLock('prune', 'process-a', NOW, NOW + 100)).toBe(true);
        expect(await store.lockHolder('prune', NOW + 100)).toBe('process-a');
        expect(await store.acquireLock('prune', 'process-b', NOW + 50, NOW + 150)).toBe(false);
        // Its own renewal.
        expect(await store.acquireLock('prune', 'process-a', NOW + 50, NOW + 200)).toBe(true);
        expect(await store.acquireLock('prune', 'process-b', NOW + 150, NOW + 250)).toBe(false);
        expect(await store.lockHolder('prune', NOW + 201)).toBeUndefined();
        expect(await store.acquireLock('prune', 'process-b', NOW + 201, NOW + 300)).toBe(true);
        expect(await store.lockHolder('prune', NOW + 250)).toBe('process-b');
        // Another lock is independent.
        expect(await store.acquireLock('commands', 'process-a', NOW, NOW + 100)).toBe(true);
        // Only the holder releases.
        await store.releaseLock('prune', 'process-a');
        expect(await store.lockHolder('prune', NOW + 250)).toBe('process-b');
        await store.releaseLock('prune', 'process-b');
        expect(await store.lockHolder('prune', NOW + 250)).toBeUndefined();
        expect(await store.acquireLock('prune', 'process-a', NOW + 250, NOW + 300)).toBe(true);
      });

      it('gives a contested lock to one of 20 concurrent callers', async () => {
        const stores = await racers(20);
        const answers = await Promise.all(
          stores.map((racer, index) =>
            racer.acquireLock('shard-0', `process-${index}`, NOW, NOW + 1),
          ),
        );
        expect(answers.filter(Boolean)).toHaveLength(1);
        const winner = answers.indexOf(true);
        expect(await store.lockHolder('shard-0', NOW)).toBe(`process-${winner}`);
      });

      it('pauses creates until the later of two times', async () => {
        expect(await store.pausedUntil()).toBe(0);
        expect(await store.pauseCreatesUntil(5_000)).toBe(5_000);
        expect(await store.pauseCreatesUntil(3_000)).toBe(5_000);
        expect(await store.pausedUntil()).toBe(5_000);
        expect(await store.pauseCreatesUntil(8_000)).toBe(8_000);
        expect(await store.pausedUntil()).toBe(8_000);
      });

      it('publishes to every subscriber, past one that throws, until unsubscribed', async () => {
        const first: StoreEvent[] = [];
        const second: StoreEvent[] = [];
        const unsubscribeThrowing = store.subscribe(() => {
          throw new Error('listener failure');
        });
        const unsubscribeFirst = store.subscribe((event) => first.push(event));
        store.subscribe((event) => second.push(event));
        const events: StoreEvent[] = [
          { kind: 'queue' },
          { kind: 'callback', jobId: 'job-1' },
          { kind: 'cancel', jobId: 'job-2' },
          { kind: 'pause', until: 9_000 },
        ];
        const published = store.publish(events[0] ?? { kind: 'queue' });
        // Never inside the publisher's own call: a listener cannot re-enter the code publishing.
        expect(first).toEqual([]);
        await published;
        for (const event of events.slice(1)) await store.publish(event);
        await waitFor(() => first.length === 4 && second.length === 4);
        expect(first).toEqual(events);
        expect(second).toEqual(events);
        unsubscribeThrowing();
        // Unsubscribed before delivery, even of an event already published: not called.
        const last = store.publish({ kind: 'queue' });
        unsubscribeFirst();
        await last;
        await waitFor(() => second.length === 5);
        expect(first).toHaveLength(4);
      });
    });
  });
}

/** Waits (bounded) for published events, which a store may deliver after `publish` returns. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not met within 2 s');
}
