import { describe, expect, it } from 'vitest';
import {
  CorruptJobRowError,
  type JobRow,
  jobToRow,
  patchToColumns,
  queuePositionsOf,
  rowToJob,
} from '../src/core/jobs/stores/rows.js';
import { makeFullJob, makeJob } from './store-contract.js';

/** The shared row code, on rows as either driver may hand them back. */

describe('rowToJob', () => {
  it('reads BIGINTs given as strings and flags given as booleans, as pg may return them', () => {
    const job = makeFullJob();
    const row = jobToRow(job);
    const asPostgres: JobRow = {
      ...(row as unknown as JobRow),
      created_at: String(job.createdAt),
      updated_at: BigInt(job.updatedAt),
      started_at: String(job.startedAt),
      reserved_images: String(job.reservedImages),
      requester_is_admin: true,
      timeout_notified: false,
      lease_owner: 'process-a',
      lease_until: '1732406520000',
      queue_seq: '7',
    };
    expect(rowToJob(asPostgres)).toStrictEqual({
      ...job,
      timeoutNotified: false,
      leaseOwner: 'process-a',
      leaseUntil: 1_732_406_520_000,
    });
  });

  it('leaves the lease off a job nobody leases, so it equals the job inserted', () => {
    const job = makeJob();
    const read = rowToJob({ ...(jobToRow(job) as unknown as JobRow), lease_owner: null });
    expect(read).toStrictEqual(job);
    expect('leaseOwner' in read).toBe(false);
  });

  it('names the job and column of a value that is no integer', () => {
    const row = { ...(jobToRow(makeJob()) as unknown as JobRow), delivery_attempts: '2.5' };
    const error = (() => {
      try {
        return rowToJob(row);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(CorruptJobRowError);
    expect(error).toMatchObject({ jobId: 'job-1', column: 'delivery_attempts' });
    expect(String(error)).toMatch(/job job-1, column delivery_attempts holds a non-integer "2.5"/);
  });
});

describe('patchToColumns', () => {
  it('writes patched fields only, encoding JSON and flags, clearing nullable ones', () => {
    // A NOT NULL column patched with undefined (the types forbid it) is left alone.
    const patch = {
      deliveryAttempts: 2,
      taskId: undefined,
      reservedImages: undefined as unknown as number,
      timeoutNotified: true,
      result: { images: [] },
    };
    expect(patchToColumns(patch)).toEqual({
      columns: ['task_id', 'result', 'delivery_attempts', 'timeout_notified'],
      values: [null, '{"images":[]}', 2, 1],
    });
  });
});

describe('queuePositionsOf', () => {
  it('orders users by turn key (the later of served and oldest queued), then round by round', () => {
    const positions = queuePositionsOf([
      { id: 'A1', requesterId: 'A', queueSeq: 1, servedSeq: 9 },
      { id: 'A2', requesterId: 'A', queueSeq: 2, servedSeq: 9 },
      { id: 'B2', requesterId: 'B', queueSeq: 6, servedSeq: 0 },
      { id: 'B1', requesterId: 'B', queueSeq: 5, servedSeq: 0 },
      { id: 'C1', requesterId: 'C', queueSeq: 12, servedSeq: 10 },
    ]);
    expect([...positions.entries()]).toEqual([
      ['B1', 1],
      ['A1', 2],
      ['C1', 3],
      ['B2', 4],
      ['A2', 5],
    ]);
  });
});
