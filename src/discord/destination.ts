import { z } from 'zod';

/**
 * Where a Discord job shows its progress and delivers: stored with the job (opaque to the core) so
 * that delivery works after a restart.
 */
const channelKind = z.enum(['text', 'thread', 'dm', 'other']);

const interactionDestination = z.object({
  kind: z.literal('interaction'),
  applicationId: z.string(),
  /** The interaction token: edits the reply for 15 minutes. */
  token: z.string(),
  expiresAt: z.number(),
  channelId: z.string(),
  guildId: z.string().optional(),
  channelKind,
  ephemeral: z.boolean(),
  /** The guild's per-file upload limit from the interaction, in bytes. */
  uploadLimit: z.number(),
  /** The reply's message id, once known (for edits and threads after the token expires). */
  messageId: z.string().optional(),
  /**
   * A job of a batch (`{a, b}`, `--repeat`): its own follow-up message of the interaction, edited
   * through the token as the reply (`@original`, when absent) is for a single job.
   */
  webhookMessageId: z.string().optional(),
});

const messageDestination = z.object({
  kind: z.literal('message'),
  channelId: z.string(),
  guildId: z.string().optional(),
  channelKind,
  /** The user's message this job answers. */
  sourceMessageId: z.string(),
  /** The bot's reply that shows progress and then the result. */
  progressMessageId: z.string().optional(),
  uploadLimit: z.number(),
});

export const destinationSchema = z.discriminatedUnion('kind', [
  interactionDestination,
  messageDestination,
]);
export type Destination = z.infer<typeof destinationSchema>;
export type InteractionDestination = z.infer<typeof interactionDestination>;
export type ChannelKind = z.infer<typeof channelKind>;

export function readDestination(value: unknown): Destination {
  return destinationSchema.parse(value);
}

/** Whether a job's result was shown to its requester alone: what is made from it is, too. */
export function wasPrivate(job: { readonly destination: unknown }): boolean {
  const parsed = destinationSchema.safeParse(job.destination);
  return parsed.success && parsed.data.kind === 'interaction' && parsed.data.ephemeral;
}

/** What was posted for a job: for Delete, and for edits of its images later. */
const deliverySchema = z.object({
  messages: z.array(z.object({ channelId: z.string(), messageId: z.string() })),
  images: z.array(z.object({ url: z.string(), name: z.string(), size: z.number().optional() })),
  threadId: z.string().optional(),
});
export type Delivery = z.infer<typeof deliverySchema>;

/**
 * The messages of a result in several parts already posted, saved in the job as each is posted
 * (see the core's `DeliveryCheckpoint`): the interaction webhook's follow-ups take no nonce, so a
 * later attempt, or the process that takes the job over, skips these parts rather than post them
 * again. By part number (0 is the first message).
 */
const partialDeliverySchema = z.object({
  parts: z.record(
    z.string(),
    z.object({
      channelId: z.string(),
      messageId: z.string(),
      images: deliverySchema.shape.images,
    }),
  ),
});
export type PartialDelivery = z.infer<typeof partialDeliverySchema>;

export function readPartialDelivery(value: unknown): PartialDelivery | undefined {
  const parsed = partialDeliverySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function readDelivery(value: unknown): Delivery | undefined {
  const parsed = deliverySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** Interaction tokens last 15 minutes; keep a margin for the time an upload takes. */
export const TOKEN_LIFETIME_MS = 15 * 60_000;
export const TOKEN_MARGIN_MS = 90_000;

/** The interaction message a job shows itself in: its follow-up in a batch, else the reply. */
export function webhookMessageOf(destination: InteractionDestination): string {
  return destination.webhookMessageId ?? '@original';
}

export function tokenUsable(
  destination: Destination,
  now: number,
): destination is InteractionDestination {
  return destination.kind === 'interaction' && now < destination.expiresAt - TOKEN_MARGIN_MS;
}
