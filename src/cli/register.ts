import { REST, Routes } from 'discord.js';
import { ConfigError } from '../core/index.js';
import {
  commandDefinitions,
  inviteUrl,
  readDiscordSettings,
  syncCommands,
} from '../discord/index.js';
import { type CliContext, EXIT_FAILED, EXIT_OK, EXIT_USAGE, loadForCommand } from './context.js';

export const REGISTER_USAGE = `Usage: nano-banana register

Registers the Discord commands (/imagine, /usage, /help and the "Edit image" context menu) to the
guilds in DISCORD_GUILD_IDS (instant), or globally, and prints the invite URL with exactly the
permissions the bot needs. "nano-banana start" also registers them when they are missing or changed.`;

export async function registerCommand(
  args: readonly string[],
  context: CliContext,
): Promise<number> {
  if (args.includes('--help')) {
    context.stdout.write(`${REGISTER_USAGE}\n`);
    return EXIT_OK;
  }
  const loaded = loadForCommand(context);
  if ('exitCode' in loaded) return loaded.exitCode;
  let settings: ReturnType<typeof readDiscordSettings>;
  try {
    settings = readDiscordSettings(context.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    context.stderr.write(`${error.message}\n`);
    return EXIT_USAGE;
  }
  if (settings.token === undefined) {
    context.stderr.write(
      'nano-banana register: set DISCORD_TOKEN to the bot token from the Discord developer portal.\n',
    );
    return EXIT_USAGE;
  }
  const rest = new REST({ api: settings.apiUrl, makeRequest: fetch as never, retries: 1 }).setToken(
    settings.token,
  );
  try {
    const application = (await rest.get(Routes.currentApplication())) as {
      id: string;
      name?: string;
    };
    const scopes = await syncCommands(
      rest,
      application.id,
      settings.guildIds,
      commandDefinitions(loaded.config.catalog),
      { force: true },
    );
    context.stdout.write(
      `Registered the commands (${scopes.join(', ')}) for ${application.name ?? application.id}.\n`,
    );
    context.stdout.write(`Invite the bot with:\n${inviteUrl(application.id)}\n`);
    if (settings.guildIds.length === 0) {
      context.stdout.write(
        'Global commands can take up to an hour to appear; set DISCORD_GUILD_IDS for instant ones.\n',
      );
    }
    return EXIT_OK;
  } catch (error) {
    const status = (error as { status?: number }).status;
    context.stderr.write(
      status === 401
        ? 'nano-banana register: Discord refused DISCORD_TOKEN: check the bot token in the developer portal.\n'
        : `nano-banana register: ${(error as Error).message}\n`,
    );
    return EXIT_FAILED;
  }
}
