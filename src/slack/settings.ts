import { z } from 'zod';
import { ConfigError, type Environment, settings } from '../core/index.js';

/** The Web API's own address; test servers and proxies replace it with `SLACK_API_URL`. */
export const DEFAULT_SLACK_API_URL = 'https://slack.com/api/';
/** Where Slack serves `url_private`: the only host that ever gets the bot token for a download. */
export const SLACK_FILE_HOST = 'https://files.slack.com';
/** Where Slack's `response_url`s point (`https://hooks.slack.com/commands/…`, `/actions/…`). */
export const SLACK_HOOKS_HOST = 'https://hooks.slack.com';

export interface SlackSettings {
  /** `SLACK_BOT_TOKEN` (`xoxb-…`): turns the adapter on. */
  readonly botToken: string;
  /** `SLACK_APP_TOKEN` (`xapp-…`): when set, the bot runs in Socket Mode. */
  readonly appToken: string | undefined;
  /** `SLACK_SIGNING_SECRET`: verifies requests in HTTP mode (required there). */
  readonly signingSecret: string | undefined;
  /** `SLACK_API_URL`, with its trailing slash, as the Web API client wants it. */
  readonly apiUrl: string;
  /** Origins whose file URLs get the bot token: Slack's file host, and that of `SLACK_API_URL`. */
  readonly fileOrigins: readonly string[];
  /**
   * The only origins a `response_url` from a payload (or a modal's `private_metadata`) is posted
   * to: Slack's hooks host, and that of `SLACK_API_URL` when it is replaced.
   */
  readonly responseUrlOrigins: readonly string[];
  /** `SLACK_COMMAND`, default `/imagine`. */
  readonly command: string;
  /** `NANO_BANANA_ALLOW_SLACK_CONNECT`: requests from channels shared with other organisations. */
  readonly allowSlackConnect: boolean;
  /** `SLACK_AUDIT_CHANNEL_ID`: the operator's moderation log, every line of the workspace. */
  readonly auditChannelId: string | undefined;
  readonly mode: 'socket' | 'http';
}

/** Exported for the settings documentation test, which compares it with the README. */
export const environmentSchema = z.object({
  SLACK_BOT_TOKEN: settings.optionalText.refine(
    (value) => value === undefined || /^(xoxe\.)?xoxb-/.test(value),
    // Never echo the value: it is a credential, even when it is the wrong one.
    'expected a bot token starting with xoxb- (OAuth & Permissions → Bot User OAuth Token)',
  ),
  SLACK_APP_TOKEN: settings.optionalText.refine(
    (value) => value === undefined || value.startsWith('xapp-'),
    'expected an app-level token starting with xapp- (Basic Information → App-Level Tokens)',
  ),
  SLACK_SIGNING_SECRET: settings.optionalText,
  SLACK_API_URL: settings.httpUrl(DEFAULT_SLACK_API_URL),
  SLACK_COMMAND: z
    .string()
    .trim()
    .default('/imagine')
    .transform((value) => (value === '' ? '/imagine' : value))
    .refine((value) => /^\/[a-z0-9_-]{1,31}$/i.test(value), {
      message: 'expected a slash command such as /imagine',
    }),
  NANO_BANANA_ALLOW_SLACK_CONNECT: settings.boolean(false),
  SLACK_AUDIT_CHANNEL_ID: settings.optionalText,
});

/**
 * Reads the Slack settings from the environment. Undefined when `SLACK_BOT_TOKEN` is not set (the
 * adapter is off); throws a `ConfigError` naming each variable that is wrong or missing.
 */
export function readSlackSettings(env: Environment): SlackSettings | undefined {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(settings.describeIssues(parsed.error));
  const values = parsed.data;
  if (values.SLACK_BOT_TOKEN === undefined) return undefined;
  if (values.SLACK_APP_TOKEN === undefined && values.SLACK_SIGNING_SECRET === undefined) {
    throw new ConfigError([
      'SLACK_APP_TOKEN or SLACK_SIGNING_SECRET: set SLACK_APP_TOKEN (xapp-…) to run in Socket Mode, ' +
        'or SLACK_SIGNING_SECRET (Basic Information → Signing Secret) to serve Slack over HTTP at /slack/events',
    ]);
  }
  const apiUrl = `${values.SLACK_API_URL}/`;
  const apiOrigin = new URL(apiUrl).origin;
  return {
    botToken: values.SLACK_BOT_TOKEN,
    appToken: values.SLACK_APP_TOKEN,
    signingSecret: values.SLACK_SIGNING_SECRET,
    apiUrl,
    // Slack's own API host serves no files; a replaced API URL (a proxy, a test server) does.
    fileOrigins:
      apiUrl === DEFAULT_SLACK_API_URL ? [SLACK_FILE_HOST] : [SLACK_FILE_HOST, apiOrigin],
    responseUrlOrigins:
      apiUrl === DEFAULT_SLACK_API_URL ? [SLACK_HOOKS_HOST] : [SLACK_HOOKS_HOST, apiOrigin],
    command: values.SLACK_COMMAND,
    allowSlackConnect: values.NANO_BANANA_ALLOW_SLACK_CONNECT,
    auditChannelId: values.SLACK_AUDIT_CHANNEL_ID,
    mode: values.SLACK_APP_TOKEN === undefined ? 'http' : 'socket',
  };
}
