import { z } from 'zod';

/**
 * What the Slack adapter keeps in a job (opaque to the core): where its messages are, and what it
 * posted. Read back with zod, since a store written by an older version may hold another shape.
 */

const destinationSchema = z.object({
  channel: z.string(),
  /** The thread the result goes into: the status message's own ts, or a user's message. */
  threadTs: z.string(),
  /** The bot's message showing the request and its progress. */
  statusTs: z.string(),
  /** A `response_url` for private answers, when the request came with one (30 minutes). */
  responseUrl: z.string().optional(),
});

export type Destination = z.infer<typeof destinationSchema>;

const deliverySchema = z.object({
  files: z.array(z.object({ id: z.string(), url: z.string(), name: z.string() })),
  /** The message with the buttons, under the images. */
  buttonsTs: z.string().optional(),
});

export type DeliveryRecord = z.infer<typeof deliverySchema>;
export type DeliveredFile = DeliveryRecord['files'][number];

/**
 * What a delivery under way saved in the job before its posts (see the core's
 * `DeliveryCheckpoint`): when it began, and the files once Slack took them. A process that takes
 * the job over after a death reads it to post nothing twice.
 */
const deliveryProgressSchema = z.object({
  /** Unix milliseconds, by the clock of the process that began. */
  startedAt: z.number(),
  files: deliverySchema.shape.files.optional(),
});

export type DeliveryProgress = z.infer<typeof deliveryProgressSchema>;

export function readDestination(value: unknown): Destination | undefined {
  const parsed = destinationSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function readDelivery(value: unknown): DeliveryRecord | undefined {
  const parsed = deliverySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function readDeliveryProgress(value: unknown): DeliveryProgress | undefined {
  const parsed = deliveryProgressSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
