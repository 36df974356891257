import { escapeMarkdown } from 'discord.js';
import { describeError } from '../core/index.js';

/**
 * The core's sentence for a failure, as Discord markdown. It may quote what the user typed (a
 * model name, a flag, a file name), and the bot's public reply to a message must not turn that
 * into a link dressed up as something else, a spoiler or bold text. The core's sentences hold no
 * markdown of their own, so the whole sentence is escaped; it reads the same.
 */
export function describeFailure(error: unknown, locale: string | undefined): string {
  return escapeMarkdown(describeError(error, locale), { maskedLink: true });
}
