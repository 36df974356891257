import { Routes } from 'discord.js';
import { discordCode, isMissingPermission, setbackOf } from './discord-errors.js';
import type { DiscordRuntime } from './runtime.js';

/**
 * What Delete does to a result's thread: deleted where the bot has Manage Threads; otherwise
 * archived and locked, which the bot may do to a thread it owns, so that nobody keeps posting
 * follow-ups under a result that is gone.
 */
export async function removeResultThread(
  runtime: DiscordRuntime,
  jobId: string,
  threadId: string,
): Promise<'deleted' | 'closed' | 'left'> {
  const { rest, logger } = runtime;
  try {
    await rest.delete(Routes.channel(threadId));
    return 'deleted';
  } catch (error) {
    // Deleted already (by a moderator, say): nothing left to do.
    if (setbackOf(error) === 'channel_gone') return 'deleted';
    if (!isMissingPermission(error)) {
      logger.warn({ jobId, code: discordCode(error) }, 'Could not delete a result thread');
      return 'left';
    }
  }
  const close = () =>
    rest.patch(Routes.channel(threadId), { body: { archived: true, locked: true } });
  try {
    await close();
    return 'closed';
  } catch (error) {
    // Discord edits an archived thread only while unarchiving it: reopen it, then close it.
    if (setbackOf(error) === 'archived_thread') {
      try {
        await rest.patch(Routes.channel(threadId), { body: { archived: false } });
        await close();
        return 'closed';
      } catch (retryError) {
        logger.warn({ jobId, code: discordCode(retryError) }, 'Could not close a result thread');
        return 'left';
      }
    }
    logger.warn({ jobId, code: discordCode(error) }, 'Could not close a result thread');
    return 'left';
  }
}
