import {
  type APIMessage,
  escapeMarkdown,
  type Message,
  MessageFlags,
  type RepliableInteraction,
  Routes,
} from 'discord.js';
import {
  type Locale,
  type NewJob,
  resolveLocale,
  type Submitted,
  shortPrompt,
  translate,
} from '../core/index.js';
import { describeFailure } from './describe.js';
import type { InteractionDestination } from './destination.js';
import { discordCode } from './discord-errors.js';
import type { DiscordRuntime } from './runtime.js';
import { discordText } from './texts.js';
import { queuedBody } from './views.js';

/**
 * Batches on Discord (`{red, blue} bird`, `--repeat 2`): all the jobs checked and stored together
 * (the quota covers them all or none is made), each shown in a message of its own as a single job
 * is, and the request answered with how many were queued.
 */

type Draft = Omit<NewJob, 'destination'>;

/**
 * A batch asked with `/imagine`. The caller has already checked the batch (`checkBatch`) and the
 * channel's permissions, and deferred the reply. Each job gets a follow-up message of the
 * interaction, made before the jobs are stored so that each job's destination names its own
 * message from the start; the reply says how many were queued. A refusal met at the store (a
 * concurrent request took the last images) shows in the reply, and the follow-ups go.
 */
export async function acceptInteractionBatch(
  runtime: DiscordRuntime,
  interaction: RepliableInteraction,
  drafts: readonly Draft[],
  destination: InteractionDestination,
): Promise<void> {
  const locale = resolveLocale(interaction.locale);
  const { applicationId, token, ephemeral } = destination;
  // Discord fills a deferred reply with the first follow-up: the reply is written first, so that
  // every follow-up is a message of its own.
  await interaction.editReply({
    content: discordText(locale, 'batch.preparing', { count: drafts.length }),
  });
  const followUps: APIMessage[] = [];
  const forgetFollowUps = async () => {
    for (const followUp of followUps) {
      await runtime.webhooks
        .delete(Routes.webhookMessage(applicationId, token, followUp.id), { auth: false })
        .catch((error: unknown) =>
          runtime.logger.warn(
            { code: discordCode(error) },
            'Could not remove the message of a refused batch job',
          ),
        );
    }
  };
  let submitted: Submitted[];
  try {
    for (const draft of drafts) {
      followUps.push(
        (await runtime.webhooks.post(Routes.webhook(applicationId, token), {
          body: {
            content: `⏳ ${escapeMarkdown(shortPrompt(draft.prompt))}`,
            allowed_mentions: { parse: [] },
            ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}),
          },
          auth: false,
          query: new URLSearchParams({ wait: 'true' }),
        })) as APIMessage,
      );
    }
    const requests = drafts.map((draft, index) => {
      const messageId = followUps[index]?.id;
      return {
        ...draft,
        destination: { ...destination, webhookMessageId: messageId, messageId },
      };
    });
    submitted = await runtime.acceptances.holdAll(
      drafts.map((draft) => draft.dedupKey),
      async () => {
        const accepted = await runtime.jobs.submitBatch(requests);
        for (const [index, each] of accepted.entries()) {
          const followUp = followUps[index];
          if (each.created && followUp !== undefined) {
            showQueuedFollowUp(runtime, each, destination, followUp.id, locale);
          }
        }
        return accepted;
      },
    );
  } catch (error) {
    await forgetFollowUps();
    await interaction.editReply({
      content: describeFailure(error, locale),
      allowedMentions: { parse: [] },
    });
    return;
  }
  if (!submitted.some((each) => each.created)) {
    // The same interaction already made these jobs (before a restart): their messages exist.
    await forgetFollowUps();
    return;
  }
  await interaction.editReply({
    content: translate(locale, 'batch.queued', { count: submitted.length }),
  });
}

/** A follow-up becomes its job's message: its place in line, and a Cancel button. */
function showQueuedFollowUp(
  runtime: DiscordRuntime,
  submitted: Submitted,
  destination: InteractionDestination,
  messageId: string,
  locale: Locale,
): void {
  const { job } = submitted;
  runtime.throttle.schedule(job.id, async () => {
    await runtime.webhooks.patch(
      Routes.webhookMessage(destination.applicationId, destination.token, messageId),
      { body: queuedBody(job, locale, submitted.position ?? 1), auth: false },
    );
  });
}

/**
 * A batch asked by a message (a mention, a DM): the caller built the drafts and each job's
 * destination. Checked, stored all or none, the message answered with how many were queued, then
 * each job's own progress reply (`showQueued`). Refusals are thrown, for the caller to answer.
 */
export async function submitMessageBatch(
  runtime: DiscordRuntime,
  message: Message,
  requests: readonly NewJob[],
  locale: Locale,
  showQueued: (submitted: Submitted) => void,
): Promise<void> {
  await runtime.jobs.checkBatch(requests);
  await runtime.acceptances.holdAll(
    requests.map((request) => request.dedupKey),
    async () => {
      const submitted = await runtime.jobs.submitBatch(requests);
      if (!submitted.some((each) => each.created)) return;
      await message.reply({
        content: translate(locale, 'batch.queued', { count: submitted.length }),
        allowedMentions: { repliedUser: false },
      });
      for (const each of submitted) if (each.created) showQueued(each);
    },
  );
}
