import { z } from 'zod';

/**
 * What Slack sends, validated at the edge: only the fields the adapter uses, so that Slack can add
 * fields without breaking anything. Bolt types most of these loosely (`any` inside), hence zod.
 */

export const slackFileSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  title: z.string().optional(),
  mimetype: z.string().optional(),
  url_private: z.string().optional(),
  url_private_download: z.string().optional(),
});

export type SlackFile = z.infer<typeof slackFileSchema>;

/**
 * A page of `conversations.replies`: a thread's messages with their files (the thread's latest
 * image) and blocks (a result's buttons, found again after a takeover).
 */
export const threadRepliesSchema = z.object({
  messages: z
    .array(
      z.object({
        ts: z.string(),
        user: z.string().optional(),
        bot_id: z.string().optional(),
        files: z.array(slackFileSchema).default([]),
        blocks: z.array(z.unknown()).default([]),
      }),
    )
    .default([]),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

export const commandSchema = z.object({
  command: z.string(),
  text: z.string().default(''),
  user_id: z.string(),
  channel_id: z.string(),
  team_id: z.string().optional(),
  trigger_id: z.string(),
  response_url: z.string(),
});

export type SlashCommand = z.infer<typeof commandSchema>;

/** A `message` or `app_mention` event. */
export const messageEventSchema = z.object({
  type: z.enum(['message', 'app_mention']),
  subtype: z.string().optional(),
  channel: z.string(),
  channel_type: z.string().optional(),
  user: z.string().optional(),
  /** The sender's own workspace; another organisation's in a Slack Connect channel. */
  user_team: z.string().optional(),
  bot_id: z.string().optional(),
  text: z.string().default(''),
  ts: z.string(),
  thread_ts: z.string().optional(),
  parent_user_id: z.string().optional(),
  files: z.array(slackFileSchema).default([]),
});

export type MessageEvent = z.infer<typeof messageEventSchema>;

const userSchema = z.object({ id: z.string() });
const teamSchema = z.object({ id: z.string() }).nullish();

export const blockActionSchema = z.object({
  type: z.literal('block_actions'),
  user: userSchema,
  team: teamSchema,
  trigger_id: z.string(),
  response_url: z.string().optional(),
  container: z.object({
    channel_id: z.string().optional(),
    message_ts: z.string().optional(),
    thread_ts: z.string().optional(),
  }),
  channel: z.object({ id: z.string() }).optional(),
  actions: z
    .array(
      z.object({ action_id: z.string(), value: z.string().default(''), action_ts: z.string() }),
    )
    .min(1),
});

export type BlockActionPayload = z.infer<typeof blockActionSchema>;

const inputValueSchema = z.object({
  value: z.string().nullish(),
  selected_option: z.object({ value: z.string() }).nullish(),
});

export const viewSubmissionSchema = z.object({
  type: z.literal('view_submission'),
  user: userSchema,
  team: teamSchema,
  view: z.object({
    id: z.string(),
    callback_id: z.string(),
    private_metadata: z.string().default(''),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), inputValueSchema)) }),
  }),
});

export type ViewSubmission = z.infer<typeof viewSubmissionSchema>;

export const messageShortcutSchema = z.object({
  type: z.literal('message_action'),
  user: userSchema,
  team: teamSchema,
  channel: z.object({ id: z.string() }),
  trigger_id: z.string(),
  response_url: z.string(),
  action_ts: z.string(),
  message: z.object({
    ts: z.string(),
    thread_ts: z.string().optional(),
    files: z.array(slackFileSchema).default([]),
  }),
});

export type MessageShortcutPayload = z.infer<typeof messageShortcutSchema>;
