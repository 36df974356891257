/**
 * The Slack adapter's public surface: the factory the service runs, and the settings it reads
 * (`SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_API_URL`, `SLACK_COMMAND`).
 */
import { createSlackAdapter } from './app.js';

export { createSlackAdapter, EVENTS_PATH, type SlackAdapterOptions } from './app.js';
export { readSlackSettings, type SlackSettings } from './settings.js';

/** The Slack adapter with its production defaults. */
export const slackAdapter = createSlackAdapter();
