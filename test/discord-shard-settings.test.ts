import { describe, expect, it } from 'vitest';
import { ConfigError, silentLogger } from '../src/core/index.js';
import { readDiscordSettings } from '../src/discord/settings.js';
import type { ShardPlan } from '../src/discord/shard-plan.js';
import { shardClientOptions } from '../src/discord/sharding.js';

/** Issue 12: which gateway shards a process runs, read from DISCORD_SHARD_COUNT and _IDS. */

function plan(environment: Record<string, string>): ShardPlan {
  return readDiscordSettings(environment).shards;
}

function problems(environment: Record<string, string>): readonly string[] {
  try {
    readDiscordSettings(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a configuration error');
}

describe('the Discord shard settings', () => {
  it('runs every shard Discord recommends when neither is set, as one process always did', () => {
    expect(plan({})).toEqual({ kind: 'all', count: undefined });
    expect(plan({ DISCORD_SHARD_COUNT: '', DISCORD_SHARD_IDS: '' })).toEqual({
      kind: 'all',
      count: undefined,
    });
    expect(plan({ DISCORD_SHARD_COUNT: '4' })).toEqual({ kind: 'all', count: 4 });
  });

  it('reads ids and ranges, in any order, as sorted shard ids', () => {
    expect(plan({ DISCORD_SHARD_COUNT: '8', DISCORD_SHARD_IDS: '5, 0-2' })).toEqual({
      kind: 'some',
      ids: [0, 1, 2, 5],
      count: 8,
    });
  });

  it('makes a process with `none` a worker only when a shared store is configured', () => {
    expect(plan({ DISCORD_SHARD_IDS: 'none', DATABASE_URL: 'postgres://db/bot' })).toEqual({
      kind: 'none',
    });
    expect(problems({ DISCORD_SHARD_IDS: 'None' })).toEqual([
      expect.stringMatching(/^DISCORD_SHARD_IDS: none .*needs DATABASE_URL/),
    ]);
  });

  it('refuses an id beyond the count, a duplicate, ids without a count, and bad values', () => {
    expect(problems({ DISCORD_SHARD_COUNT: '2', DISCORD_SHARD_IDS: '1,2' })).toEqual([
      'DISCORD_SHARD_IDS: shard 2 does not exist with DISCORD_SHARD_COUNT=2 (ids go from 0 to 1)',
    ]);
    expect(problems({ DISCORD_SHARD_COUNT: '4', DISCORD_SHARD_IDS: '0-2,2' })).toEqual([
      'DISCORD_SHARD_IDS: shard 2 is listed twice',
    ]);
    expect(problems({ DISCORD_SHARD_IDS: '0' })).toEqual([
      expect.stringMatching(/^DISCORD_SHARD_IDS: set DISCORD_SHARD_COUNT too/),
    ]);
    expect(problems({ DISCORD_SHARD_COUNT: '0' })).toEqual([
      expect.stringMatching(/^DISCORD_SHARD_COUNT: expected a whole number from 1/),
    ]);
    expect(problems({ DISCORD_SHARD_COUNT: '2.5' })).toEqual([
      expect.stringMatching(/^DISCORD_SHARD_COUNT: expected a whole number/),
    ]);
    expect(problems({ DISCORD_SHARD_COUNT: '4', DISCORD_SHARD_IDS: '3-1' })).toEqual([
      expect.stringMatching(/^DISCORD_SHARD_IDS: expected none, or shard ids and ranges/),
    ]);
  });

  it('gives discord.js the shards to run, and the fleet throttler only with locks', () => {
    const role = (shards: ShardPlan, withLocks = false) => ({
      plan: shards,
      locks: withLocks
        ? {
            owner: 'a',
            acquireLock: async () => true,
            releaseLock: async () => undefined,
            lockHolder: async () => undefined,
            countLocks: async () => 0,
          }
        : undefined,
      now: Date.now,
      logger: silentLogger,
    });
    expect(shardClientOptions(role({ kind: 'all', count: undefined }))).toEqual({ shards: 'auto' });
    expect(shardClientOptions(role({ kind: 'all', count: 3 }))).toEqual({
      shards: [0, 1, 2],
      shardCount: 3,
    });
    expect(shardClientOptions(role({ kind: 'some', ids: [1], count: 2 }))).toEqual({
      shards: [1],
      shardCount: 2,
    });
    expect(shardClientOptions(role({ kind: 'none' }))).toEqual({});
    const fleet = shardClientOptions(role({ kind: 'some', ids: [1], count: 2 }, true));
    expect(fleet.ws?.buildIdentifyThrottler).toBeTypeOf('function');
  });
});
