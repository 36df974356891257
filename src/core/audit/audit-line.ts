import type { Job, JobError } from '../jobs/job.js';
import type { Locale } from '../messages.js';
import { translate } from '../messages.js';
import type { AuditEvent } from './audit-event.js';

/** How long a prompt may be in a log line: enough to judge it, short enough to scan. */
export const AUDIT_PROMPT_CHARS = 120;

/**
 * The pieces of a line only the platform knows how to write. Each must ping nobody and render a
 * user's text as the characters they typed.
 */
export interface AuditLineParts {
  /** The requester, as a mention that does not notify. */
  who(userId: string): string;
  /** The channel, as a link. */
  where(channelId: string): string;
  /** The prompt (already shortened), quoted so that nothing in it is markup or a mention. */
  quote(prompt: string): string;
  /** Short code text: the job id. */
  code(text: string): string;
  /** Whether the job's result is shown to its requester only. */
  isPrivate(job: Job): boolean;
  /** A link to the result (a message, or the images when the message is private). */
  result(job: Job): Promise<string | undefined>;
  /** Why the job failed, in a sentence. */
  failure(error: JobError, locale: Locale): string;
}

/**
 * A line of the moderation log: the same shape on every platform, in the log's language.
 * `📝` accepted, `✅` result, `❌` failed, `⏹️` cancelled, `⚠️` made but not delivered, `🚫` refused.
 */
export async function composeAuditLine(
  event: AuditEvent,
  locale: Locale,
  parts: AuditLineParts,
): Promise<string | undefined> {
  // French puts a narrow no-break space before a colon.
  const colon = locale === 'fr' ? '\u202F: ' : ': ';
  if (event.kind === 'refused') {
    const { request, error } = event;
    const word = typeof error.params.word === 'string' ? error.params.word : '';
    const who = translate(locale, 'audit.refused', {
      who: parts.who(request.requesterId),
      where: parts.where(request.channelId),
      word,
    });
    return `🚫 ${who}${colon}${parts.quote(shorten(request.prompt))}`;
  }
  const { job } = event;
  const id = parts.code(job.id);
  if (event.kind === 'accepted') {
    const asked = translate(locale, 'audit.accepted', {
      who: parts.who(job.requesterId),
      where: parts.where(job.channelId),
    });
    const marker = parts.isPrivate(job) ? ` (${translate(locale, 'audit.private')})` : '';
    return `📝 ${id} ${asked}${marker}${colon}${parts.quote(shorten(job.prompt))}`;
  }
  switch (job.state) {
    case 'done': {
      const link = await parts.result(job);
      return `✅ ${id} ${translate(locale, 'audit.done')}${link === undefined ? '' : `${colon}${link}`}`;
    }
    case 'failed':
      return `❌ ${id} ${translate(locale, 'audit.failed')} (${job.error?.code ?? 'error'})${
        job.error === undefined ? '' : `${colon}${parts.failure(job.error, locale)}`
      }`;
    case 'cancelled':
      return `⏹️ ${id} ${translate(locale, 'audit.cancelled')}`;
    case 'undelivered':
      return `⚠️ ${id} ${translate(locale, 'audit.undelivered')}`;
    default:
      return undefined;
  }
}

/** One line of text, at most `AUDIT_PROMPT_CHARS` characters. */
function shorten(prompt: string): string {
  const flat = prompt.replace(/\s+/g, ' ').trim();
  const characters = [...flat];
  if (characters.length <= AUDIT_PROMPT_CHARS) return flat;
  return `${characters.slice(0, AUDIT_PROMPT_CHARS - 1).join('')}…`;
}
