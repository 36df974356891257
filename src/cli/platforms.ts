import type { Environment } from '../core/index.js';
import { discordAdapter } from '../discord/index.js';
import type { AdapterFactory } from '../service/service.js';
import { slackAdapter } from '../slack/index.js';

/** The chat platforms `start` can run, and what turns each on. */
export interface Platform {
  readonly name: string;
  /** The variable whose presence turns the adapter on. */
  readonly enabledBy: string;
  /** Every variable of this platform that holds a secret, for log redaction. */
  readonly secretVariables: readonly string[];
  /** One line an admin reads when no platform is configured. */
  readonly guide: string;
  readonly factory: AdapterFactory;
}

export const PLATFORMS: readonly Platform[] = [
  {
    name: 'Discord',
    enabledBy: 'DISCORD_TOKEN',
    secretVariables: ['DISCORD_TOKEN'],
    guide:
      'Discord: set DISCORD_TOKEN (the bot token from the developer portal), then run "nano-banana register".',
    factory: discordAdapter,
  },
  {
    name: 'Slack',
    enabledBy: 'SLACK_BOT_TOKEN',
    secretVariables: ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN', 'SLACK_SIGNING_SECRET'],
    guide:
      'Slack: create the app from slack/manifest.yml, then set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP).',
    factory: slackAdapter,
  },
];

export function enabledPlatforms(environment: Environment): Platform[] {
  return PLATFORMS.filter((platform) => (environment[platform.enabledBy] ?? '').trim() !== '');
}

export function platformSecrets(environment: Environment): string[] {
  return PLATFORMS.flatMap((platform) => platform.secretVariables)
    .map((name) => environment[name]?.trim())
    .filter((value): value is string => value !== undefined && value !== '');
}
