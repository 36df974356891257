/** The moderation log: what adapters and the service use of it. */
export type { AuditEvent } from './audit-event.js';
export { AUDIT_PROMPT_CHARS, type AuditLineParts, composeAuditLine } from './audit-line.js';
export { AuditLog, type AuditLogOptions } from './audit-log.js';
export { AuditPoster } from './audit-poster.js';
export { AuditChannelClosed, type AuditRegistry, type AuditSink } from './audit-sink.js';
export { clipLine, linesThatFit } from './pack-lines.js';
