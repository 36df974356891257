import {
  AuditChannelClosed,
  type AuditSink,
  composeAuditLine,
  type Job,
  type Locale,
} from '../core/index.js';
import { describeJobError } from './describe.js';
import { readDelivery, readDestination } from './destination.js';
import { escapeMrkdwn } from './mrkdwn.js';
import type { SlackRuntime } from './runtime.js';
import { cannotPost, slackErrorCode } from './web-api-errors.js';

/** Slack allows about one message per second in a channel. */
const SLACK_AUDIT_PACE = { messages: 1, perMs: 1000 } as const;
/** Slack cuts longer texts; a log message stays well within what reads as one message. */
const SLACK_MESSAGE_CHARS = 3500;

/**
 * The moderation log on Slack. A `<@U…>` mention would notify the requester that they were named
 * in the moderators' channel, so the requester is a link to their profile instead; the channel is
 * a channel link, the prompt escaped code, the result the permalink of its message in the thread.
 */
export function slackAuditSink(runtime: SlackRuntime, locale: Locale): AuditSink {
  return {
    platform: 'slack',
    operatorChannelId: runtime.settings.auditChannelId,
    pace: SLACK_AUDIT_PACE,
    maxMessageChars: SLACK_MESSAGE_CHARS,
    describe: (event) => {
      const teamId = event.kind === 'refused' ? event.request.serverId : event.job.serverId;
      return composeAuditLine(event, locale, {
        who: (userId) =>
          `<slack://user?${teamId === undefined ? '' : `team=${teamId}&`}id=${userId}|@${userId}>`,
        where: (channelId) => `<#${channelId}>`,
        quote: (prompt) => `\`${escapeMrkdwn(prompt.replace(/`/g, 'ʹ'))}\``,
        code: (text) => `\`${text}\``,
        // Slack answers in the channel, never privately: every result has a message to link.
        isPrivate: () => false,
        result: (job) => resultLink(runtime, job),
        failure: (error, lineLocale) => describeJobError(error, lineLocale),
      });
    },
    post: async (channelId, lines) => {
      try {
        await runtime.client.chat.postMessage({
          channel: channelId,
          text: lines.join('\n'),
          unfurl_links: false,
          unfurl_media: false,
        });
      } catch (error) {
        if (cannotPost(error)) {
          throw new AuditChannelClosed(slackErrorCode(error) ?? 'cannot_post', { cause: error });
        }
        throw new Error(`Slack refused the audit post (${slackErrorCode(error) ?? 'network'})`);
      }
    },
  };
}

/** The permalink of the result's message (its buttons under the images, else its status). */
async function resultLink(runtime: SlackRuntime, job: Job): Promise<string | undefined> {
  const destination = readDestination(job.destination);
  if (destination === undefined) return undefined;
  const messageTs = readDelivery(job.delivery)?.buttonsTs ?? destination.statusTs;
  try {
    const answer = await runtime.client.chat.getPermalink({
      channel: destination.channel,
      message_ts: messageTs,
    });
    return answer.permalink;
  } catch (error) {
    runtime.logger.warn(
      { jobId: job.id, code: slackErrorCode(error) },
      'Could not get the result’s permalink for the moderation log',
    );
    return undefined;
  }
}
