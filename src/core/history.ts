import type { Job } from './jobs/job.js';
import { type Locale, translate } from './messages.js';

/**
 * What `/history` (Discord) and `--history` (Slack) share: how many jobs, how a prompt is
 * shortened, what a state is called, and when to say that older jobs are forgotten. Each adapter
 * adds its own date formatting and link to the result.
 */

/** The jobs a history shows. */
export const HISTORY_LIMIT = 10;
/** A prompt longer than this is cut (with `…`): ten of them must fit one message. */
const MAX_PROMPT_SHOWN = 80;
/** Under this retention the history says when jobs are forgotten: a week is what people expect. */
const SHORT_RETENTION_MS = 7 * 86_400_000;

/** The prompt on one line, cut to fit a history line. */
export function shortPrompt(prompt: string): string {
  const line = prompt.replace(/\s+/g, ' ').trim();
  const characters = [...line];
  return characters.length > MAX_PROMPT_SHOWN
    ? `${characters.slice(0, MAX_PROMPT_SHOWN - 1).join('')}…`
    : line;
}

/** The job's state as a user reads it. */
export function stateLabel(locale: Locale | string, job: Job): string {
  return translate(locale, `history.state.${job.state}`);
}

/** The sentence saying jobs are forgotten after the retention period, when that is short. */
export function retentionNote(locale: Locale | string, retentionMs: number): string | undefined {
  if (retentionMs >= SHORT_RETENTION_MS) return undefined;
  return translate(locale, 'history.retention', { days: Math.round(retentionMs / 86_400_000) });
}
