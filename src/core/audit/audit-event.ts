import type { NanoBananaError } from '../errors.js';
import type { Job, NewJob } from '../jobs/job.js';

/**
 * What the moderation log records: a job accepted, a job finished (its result or why it failed),
 * a request refused for a blocked word. Private jobs are recorded like any other: the log is for
 * the server's moderators, who must see everything asked of the bot there.
 */
export type AuditEvent =
  | { readonly kind: 'accepted'; readonly job: Job }
  | { readonly kind: 'finished'; readonly job: Job }
  | { readonly kind: 'refused'; readonly request: NewJob; readonly error: NanoBananaError };

/** The platform and server an event belongs to: where its lines go. */
export function auditScope(event: AuditEvent): {
  readonly platform: string;
  readonly serverId: string | undefined;
} {
  const source = event.kind === 'refused' ? event.request : event.job;
  return { platform: source.platform, serverId: source.serverId };
}
