import type { AuditEvent } from './audit-event.js';

/**
 * What a chat adapter gives the moderation log: how its lines read and how they are posted. The
 * core decides which channels get a line, stores it, and paces the posts; it never knows what a
 * Discord mention or a Slack permalink looks like.
 */
export interface AuditSink {
  /** `discord`, `slack`: the lines of that platform's jobs. */
  readonly platform: string;
  /** The operator's channel, which gets every server's lines (in addition to each server's own). */
  readonly operatorChannelId: string | undefined;
  /** At most `messages` posts per `perMs` in one channel: the platform's own limit. */
  readonly pace: { readonly messages: number; readonly perMs: number };
  /** The longest message the platform takes, in characters: lines are packed up to it. */
  readonly maxMessageChars: number;
  /** The line for an event, or undefined when there is nothing to say. */
  describe(event: AuditEvent): Promise<string | undefined>;
  /**
   * Posts lines as one message, pinging nobody. Throws `AuditChannelClosed` when the bot may not
   * post there (it will not pass by retrying); anything else is retried later.
   */
  post(channelId: string, lines: readonly string[]): Promise<void>;
}

/** The bot may not post in this channel (no access, no permission, gone): its lines are dropped. */
export class AuditChannelClosed extends Error {
  override readonly name = 'AuditChannelClosed';
  /** The platform's reason, for the operator's warning (`50013`, `not_in_channel`...). */
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(`The bot may not post in this audit channel (${reason})`, options);
    this.reason = reason;
  }
}

/** What the adapters get to plug their sink in (`AdapterContext.audit`). */
export interface AuditRegistry {
  register(sink: AuditSink): void;
}
