import { z } from 'zod';
import { settings } from '../core/index.js';

/**
 * Which of the bot's gateway shards this process runs. Discord sends a guild's events to shard
 * `(guild_id >> 22) % count` and DMs to shard 0, so a fleet splits the servers by giving each
 * process its own shard ids of one shared count.
 */
export type ShardPlan =
  /** Every shard: `count` of them, or the count Discord recommends (`undefined`). */
  | { readonly kind: 'all'; readonly count: number | undefined }
  /** These shards of `count`. */
  | { readonly kind: 'some'; readonly ids: readonly number[]; readonly count: number }
  /** No gateway connection: a worker that runs jobs and delivers over REST. */
  | { readonly kind: 'none' };

/** The largest shard count accepted: far beyond any bot, small enough to list its ids. */
const MAX_SHARD_COUNT = 100_000;

/** `DISCORD_SHARD_COUNT`: a positive whole number, or unset. */
export const shardCountSetting = settings.optionalText.transform((value, context) => {
  if (value === undefined) return undefined;
  const count = Number(value);
  if (
    !/^\d+$/.test(value) ||
    !Number.isSafeInteger(count) ||
    count < 1 ||
    count > MAX_SHARD_COUNT
  ) {
    context.addIssue({
      code: 'custom',
      message: `expected a whole number from 1 to ${MAX_SHARD_COUNT}, got "${value}"`,
    });
    return z.NEVER;
  }
  return count;
});

/** `DISCORD_SHARD_IDS`: `none`, or ids and ranges (`0,2`, `0-3`), or unset (every shard). */
export const shardIdsSetting = settings.optionalText.transform((value, context) => {
  if (value === undefined) return undefined;
  if (value.toLowerCase() === 'none') return 'none' as const;
  const ids: number[] = [];
  for (const item of value.split(',').map((part) => part.trim())) {
    const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(item);
    const first = Number(match?.[1]);
    const last = match?.[2] === undefined ? first : Number(match[2]);
    if (match === null || last < first || last >= MAX_SHARD_COUNT) {
      context.addIssue({
        code: 'custom',
        message: `expected none, or shard ids and ranges such as 0,1 or 0-3, got "${item}"`,
      });
      return z.NEVER;
    }
    for (let id = first; id <= last; id += 1) {
      if (ids.includes(id)) {
        context.addIssue({ code: 'custom', message: `shard ${id} is listed twice` });
        return z.NEVER;
      }
      ids.push(id);
    }
  }
  return ids.sort((left, right) => left - right);
});

/**
 * Combines the two settings, or returns the problems (`VARIABLE: what is wrong`) that make them
 * unusable together. `sharedStore` says whether the process shares a store with others
 * (`DATABASE_URL`): a process with neither a gateway nor a shared store would receive nothing.
 */
export function shardPlan(
  count: number | undefined,
  ids: readonly number[] | 'none' | undefined,
  sharedStore: boolean,
): ShardPlan | { readonly problems: readonly string[] } {
  if (ids === 'none') {
    return sharedStore
      ? { kind: 'none' }
      : {
          problems: [
            'DISCORD_SHARD_IDS: none (no gateway connection) needs DATABASE_URL: without a store shared with processes that have one, this process would receive no requests',
          ],
        };
  }
  if (ids === undefined) return { kind: 'all', count };
  if (count === undefined) {
    return {
      problems: [
        'DISCORD_SHARD_IDS: set DISCORD_SHARD_COUNT too, the same in every process, so that they divide the servers the same way',
      ],
    };
  }
  const missing = ids.filter((id) => id >= count);
  if (missing.length > 0) {
    return {
      problems: [
        `DISCORD_SHARD_IDS: shard ${missing.join(', ')} does not exist with DISCORD_SHARD_COUNT=${count} (ids go from 0 to ${count - 1})`,
      ],
    };
  }
  return { kind: 'some', ids, count };
}

/** The shard ids a plan runs once the count is known (`all` with Discord's recommended count). */
export function shardIdsOf(plan: ShardPlan, recommendedCount: number): number[] {
  switch (plan.kind) {
    case 'none':
      return [];
    case 'some':
      return [...plan.ids];
    case 'all':
      return Array.from({ length: plan.count ?? recommendedCount }, (_, id) => id);
  }
}
