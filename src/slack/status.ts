import { isFinal, type Job, type ProgressEvent, translate } from '../core/index.js';
import { type RequestSummary, statusMessage } from './blocks.js';
import { describeJobError } from './describe.js';
import type { Destination } from './destination.js';
import type { SlackRuntime } from './runtime.js';
import { slackText } from './texts.js';

/** What the status message can say: the engine's progress, plus the two ends only Slack shows. */
export type StatusEvent =
  | ProgressEvent
  | { readonly kind: 'received' }
  | { readonly kind: 'done'; readonly elapsedMs: number };

/** One line, with an emoji to read the state at a glance. */
export function statusLine(locale: string, event: StatusEvent): string {
  switch (event.kind) {
    case 'received':
      return `⏳ ${slackText(locale, 'status.received')}`;
    case 'queued':
      return `⏳ ${translate(locale, 'job.queued', { position: event.position })}`;
    case 'paused':
      return `⏸️ ${translate(locale, 'job.paused')}`;
    case 'started':
      return `🎨 ${translate(locale, 'job.started')}`;
    case 'running':
      return `🎨 ${translate(locale, 'job.running', { elapsed: seconds(event.elapsedMs) })}`;
    case 'timeout':
      return `⌛ ${translate(locale, 'job.timeout_notice')}`;
    case 'failed':
      return `❌ ${describeJobError(event.error, locale)}`;
    case 'cancelled':
      return `🚫 ${translate(locale, 'job.cancelled')}`;
    case 'done':
      return `✅ ${translate(locale, 'job.done', { elapsed: seconds(event.elapsedMs) })} ${slackText(locale, 'status.done_below')}`;
  }
}

/** Only a waiting job can be cancelled (the engine refuses once it has started). */
export function isCancellable(event: StatusEvent): boolean {
  return event.kind === 'queued' || event.kind === 'paused';
}

/** Rewrites the status message. Throws the Web API's error; callers decide whether it matters. */
export async function showStatus(
  runtime: SlackRuntime,
  job: RequestSummary & Pick<Job, 'id'>,
  destination: Destination,
  event: StatusEvent,
): Promise<void> {
  const message = statusMessage(
    job,
    statusLine(job.locale, event),
    isCancellable(event) ? job.id : undefined,
  );
  await runtime.client.chat.update({
    channel: destination.channel,
    ts: destination.statusTs,
    text: message.text,
    blocks: message.blocks,
  });
}

function seconds(milliseconds: number): number {
  return Math.max(0, Math.round(milliseconds / 1000));
}

/**
 * Shows progress through the throttle (Slack takes about one message a second per channel): a
 * newer progress replaces one still waiting, and nothing is shown once the job has finished.
 */
export function scheduleStatus(
  runtime: SlackRuntime,
  job: RequestSummary & Pick<Job, 'id'>,
  destination: Destination,
  event: StatusEvent,
): void {
  runtime.progress.schedule(job.id, async () => {
    const current = await runtime.jobs.getJob(job.id);
    if (current !== undefined && isFinal(current.state)) return;
    await showStatusOrLog(runtime, job, destination, event);
  });
}

/** Shows a job's last word after any edit under way, dropping progress still waiting. */
export function finalStatus(
  runtime: SlackRuntime,
  job: RequestSummary & Pick<Job, 'id'>,
  destination: Destination,
  event: StatusEvent,
): Promise<void> {
  return runtime.progress.final(job.id, () => showStatusOrLog(runtime, job, destination, event));
}

async function showStatusOrLog(
  runtime: SlackRuntime,
  job: RequestSummary & Pick<Job, 'id'>,
  destination: Destination,
  event: StatusEvent,
): Promise<void> {
  try {
    await showStatus(runtime, job, destination, event);
  } catch (error) {
    runtime.logger.warn(
      { err: error, jobId: job.id, event: event.kind },
      'Could not show progress',
    );
  }
}
