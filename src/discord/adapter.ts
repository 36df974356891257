import { Client, Events, GatewayIntentBits, Partials, REST } from 'discord.js';
import { AcceptanceGate, ProgressThrottle } from '../core/index.js';
import type { AdapterContext, AdapterFactory, ServiceAdapter } from '../service/adapter-context.js';
import { discordAuditSink } from './audit.js';
import { commandDefinitions, syncCommands } from './commands.js';
import { createDiscordPlatform } from './delivery.js';
import { type FleetBudget, startFleetBudget } from './fleet-budget.js';
import { InteractionHandler } from './interactions.js';
import { handleMessage } from './message-requests.js';
import type { DiscordRuntime } from './runtime.js';
import { readDiscordSettings } from './settings.js';
import { DEFAULT_SHARD_LEASE_MS, ShardClaimError } from './shard-claims.js';
import {
  DiscordConnection,
  type FleetRole,
  registerCommandsOnce,
  shardClientOptions,
} from './sharding.js';

/** Progress edits of one job at most every 1.5 s: Discord allows about 5 edits per 5 s. */
const PROGRESS_INTERVAL_MS = 1500;

export interface DiscordAdapterOptions {
  /**
   * The time the adapter judges interaction tokens by (ms since the epoch), and dates its locks in
   * a shared store with; default `Date.now`. Tests give it the fake Discord's clock, so that
   * minutes (and identify windows) can pass without waiting for them.
   */
  readonly now?: () => number;
}

/** The Discord adapter: discord.js over the gateway, delivering through Discord's REST API. */
export const discordAdapter: AdapterFactory = (context) => buildDiscordAdapter(context, {});

/** The Discord adapter with its clock chosen (see `DiscordAdapterOptions`). */
export function createDiscordAdapter(options: DiscordAdapterOptions): AdapterFactory {
  return (context) => buildDiscordAdapter(context, options);
}

/**
 * Interaction webhooks are outside Discord's global limit; @discordjs/rest has no "unbounded"
 * setting, so its global window gets a ceiling no burst of ours reaches.
 */
const WEBHOOK_REQUESTS_PER_SECOND = 10_000;

function buildDiscordAdapter(
  context: AdapterContext,
  options: DiscordAdapterOptions,
): ServiceAdapter {
  const settings = readDiscordSettings(context.env);
  const token = settings.token;
  if (token === undefined) throw new Error('DISCORD_TOKEN is not set');
  const logger = context.logger.child({ component: 'discord' });
  const intents = [
    GatewayIntentBits.Guilds,
    GatewayIntentBits.GuildMessages,
    GatewayIntentBits.DirectMessages,
  ];
  if (settings.messageContent) intents.push(GatewayIntentBits.MessageContent);
  const now = options.now ?? (() => Date.now());
  const role: FleetRole = {
    plan: settings.shards,
    locks: context.locks,
    leaseMs: context.config.engine.leaseMs,
    now,
    logger,
  };
  const client = new Client({
    intents,
    // DMs arrive for channels discord.js has not cached.
    partials: [Partials.Channel],
    // Node's own fetch: @discordjs/rest would otherwise send through undici's process-wide
    // dispatcher, which other libraries (ours, Bolt's) may have created from another undici major,
    // and that breaks its multipart uploads.
    rest: { api: settings.apiUrl, makeRequest: fetch as never },
    ...shardClientOptions(role),
  });
  const connection = new DiscordConnection(client, token, role);
  const throttle = new ProgressThrottle(PROGRESS_INTERVAL_MS);
  const runtime: DiscordRuntime = {
    client,
    rest: client.rest,
    webhooks: new REST({
      api: settings.apiUrl,
      makeRequest: fetch as never,
      globalRequestsPerSecond: WEBHOOK_REQUESTS_PER_SECOND,
    }),
    jobs: context.jobs,
    settingsPort: context.settings,
    config: context.config,
    settings,
    logger,
    acceptances: new AcceptanceGate(),
    throttle,
    botUserId: () => client.user?.id ?? '',
    applicationId: () => connection.applicationId(),
    now,
  };
  context.audit?.register(discordAuditSink(runtime, context.config.auditLocale));
  const interactions = new InteractionHandler(runtime);
  client.on(Events.InteractionCreate, (interaction) => void interactions.handle(interaction));
  client.on(Events.MessageCreate, (message) => {
    handleMessage(runtime, message).catch((error: unknown) =>
      logger.error({ err: error }, 'Message handling failed'),
    );
  });
  client.on(Events.Error, (error) => logger.error({ err: error }, 'Discord client error'));

  let budget: FleetBudget | undefined;
  const adapter: ServiceAdapter = {
    name: 'discord',
    platform: createDiscordPlatform(runtime),
    start: async () => {
      try {
        await connection.start();
      } catch (error) {
        if (error instanceof ShardClaimError) throw error;
        throw new Error(loginProblem(error));
      }
      // In a fleet, one process at a time registers: the others skip.
      const written = await registerCommandsOnce(role, () =>
        syncCommands(
          client.rest,
          runtime.applicationId(),
          settings.guildIds,
          commandDefinitions(context.config.catalog),
        ),
      );
      // In a fleet, bot-token calls spend an equal share of Discord's global limit.
      if (context.locks !== undefined) {
        budget = await startFleetBudget({
          locks: context.locks,
          rest: client.rest,
          now,
          logger,
          leaseMs: DEFAULT_SHARD_LEASE_MS,
        });
      }
      if (written !== undefined && written.length > 0) {
        logger.info({ scopes: written }, 'Discord commands registered');
      }
      if (settings.shards.kind === 'none') {
        logger.info('Connected to Discord over REST only (DISCORD_SHARD_IDS=none)');
      } else {
        logger.info(
          { user: client.user?.tag, shards: client.options.shards },
          'Connected to Discord',
        );
      }
    },
    ready: () => connection.ready(),
    stop: async () => {
      throttle.close();
      await budget?.stop();
      await connection.stop();
    },
  };
  return adapter;
}

/** A login failure an admin can act on. */
function loginProblem(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/disallowed intents/i.test(message)) {
    return 'Discord refused the Message Content intent: enable it in the developer portal (Bot → Privileged Gateway Intents) or unset DISCORD_MESSAGE_CONTENT.';
  }
  if (/token|401|unauthorized/i.test(message))
    return 'Discord refused DISCORD_TOKEN: check the bot token in the developer portal.';
  return `Could not connect to Discord: ${message}`;
}
