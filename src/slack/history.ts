import {
  displayPrompt,
  HISTORY_LIMIT,
  type Job,
  retentionNote,
  shortPrompt,
  stateLabel,
  translate,
} from '../core/index.js';
import { readDelivery, readDestination } from './destination.js';
import { escapeMrkdwn } from './mrkdwn.js';
import type { SlackRuntime } from './runtime.js';

/**
 * `/imagine --history`: the member's last requests on Slack, newest first, answered privately:
 * when (`<!date^…>`, which Slack shows in the reader's time zone), the state, the prompt, and a
 * link to the result (its buttons message in the thread, else the request's status message).
 */
export async function historyText(
  runtime: SlackRuntime,
  who: { readonly userId: string; readonly locale: string },
): Promise<string> {
  const { locale } = who;
  const jobs = await runtime.jobs.recentJobs(who.userId, 'slack', HISTORY_LIMIT);
  const lines =
    jobs.length === 0
      ? [translate(locale, 'history.empty')]
      : [
          `*${translate(locale, 'history.title')}*`,
          ...(await Promise.all(jobs.map((job) => historyLine(runtime, job, locale)))),
        ];
  const note = retentionNote(locale, runtime.config.engine.retentionMs);
  if (note !== undefined) lines.push(`_${note}_`);
  return lines.join('\n');
}

async function historyLine(runtime: SlackRuntime, job: Job, locale: string): Promise<string> {
  const seconds = Math.floor(job.createdAt / 1000);
  const fallback = new Date(job.createdAt).toISOString().slice(0, 16).replace('T', ' ');
  const when = `<!date^${seconds}^{date_short_pretty} {time}|${fallback} UTC>`;
  const prompt = `“${escapeMrkdwn(shortPrompt(displayPrompt(job)))}”`;
  const link = await resultLink(runtime, job);
  const result = link === undefined ? '' : ` · <${link}|${translate(locale, 'history.result')}>`;
  return `• ${when} · ${stateLabel(locale, job)} · ${prompt}${result}`;
}

/** Slack's own link to the job's message, or undefined when it has none (or Slack says no). */
async function resultLink(runtime: SlackRuntime, job: Job): Promise<string | undefined> {
  const destination = readDestination(job.destination);
  if (destination === undefined) return undefined;
  const ts = readDelivery(job.delivery)?.buttonsTs ?? destination.statusTs;
  try {
    const answer = await runtime.client.chat.getPermalink({
      channel: destination.channel,
      message_ts: ts,
    });
    return answer.permalink;
  } catch (error) {
    runtime.logger.debug({ err: error, jobId: job.id }, 'No permalink for a job in the history');
    return undefined;
  }
}
