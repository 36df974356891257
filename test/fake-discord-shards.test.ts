import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FakeDiscord, INTENTS } from './fakes/discord/index.js';

/**
 * The fake Discord's gateway sharding, spoken to directly (the Discord tests drive it through
 * discord.js): READY per shard, and Discord's 4010 for a shard that cannot exist.
 */

const GUILD_OF_SHARD_0 = String(1_000_000_000_000n << 22n);
const GUILD_OF_SHARD_1 = String(1_000_000_000_001n << 22n);

let fake: FakeDiscord | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await fake?.close();
  fake = undefined;
});

/** Connects, identifies with `shard`, and resolves with the first dispatch or the close code. */
async function identify(
  discord: FakeDiscord,
  shard: unknown,
): Promise<{ ready?: Record<string, unknown>; closeCode?: number }> {
  const socket = new WebSocket(discord.gatewayUrl);
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to IDENTIFY')), 5000);
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { op: number; t?: string; d: unknown };
      if (frame.op === 10) {
        socket.send(
          JSON.stringify({
            op: 2,
            d: { token: discord.botToken, intents: INTENTS.Guilds, properties: {}, shard },
          }),
        );
      } else if (frame.t === 'READY') {
        clearTimeout(timer);
        resolve({ ready: frame.d as Record<string, unknown> });
      }
    });
    socket.on('close', (code) => {
      clearTimeout(timer);
      resolve({ closeCode: code });
    });
  });
}

describe('the fake Discord gateway’s shards', () => {
  it('sends each shard READY with its own guilds, and records the identify', async () => {
    fake = await FakeDiscord.start({
      guilds: [{ id: GUILD_OF_SHARD_0 }, { id: GUILD_OF_SHARD_1 }],
    });
    const { ready } = await identify(fake, [1, 2]);
    expect(ready?.shard).toEqual([1, 2]);
    expect(ready?.guilds).toEqual([{ id: GUILD_OF_SHARD_1, unavailable: true }]);
    expect(fake.identifies().map((entry) => entry.shard)).toEqual([[1, 2]]);
    expect(fake.connectedShards()).toEqual([[1, 2]]);
  });

  it('closes with 4010 an IDENTIFY for a shard that cannot exist', async () => {
    fake = await FakeDiscord.start();
    for (const shard of [[2, 2], [-1, 2], [0, 0], [0.5, 2], 'zero']) {
      expect(await identify(fake, shard), JSON.stringify(shard)).toEqual({ closeCode: 4010 });
    }
    expect(fake.identifies()).toEqual([]);
  });
});
