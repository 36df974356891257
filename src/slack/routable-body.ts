/**
 * Whether Bolt can route a request body without throwing. Bolt reads a few fields of every body
 * before any listener runs (helpers' `getTypeAndConversation`, the team id, the first action, the
 * built-in action matchers), and a field of the wrong shape there throws: over HTTP, a 500 and
 * error lines in the log for what is only a malformed request. Slack never sends one, so such a
 * body is refused as a bad request (400) before Bolt sees it. Bodies Bolt reads safely (unknown
 * types, missing fields) are left to it: it answers those itself.
 */
export function boltCanRoute(body: unknown): boolean {
  // Bolt reads `ssl_check` of whatever parsed: `null` would throw outside its error handling.
  if (body === null) return false;
  if (!isRecord(body)) return true;
  const { type } = body;
  if (body.event !== undefined) return eventIsRoutable(body.event);
  if (body.command !== undefined) return true;
  if (body.name !== undefined || type === 'block_suggestion') {
    return channelIsReadable(body) && teamIsReadable(body);
  }
  if (body.actions !== undefined || type === 'dialog_submission') {
    const actions = body.actions;
    const actionsReadable =
      actions === undefined || (Array.isArray(actions) && actions.every(isRecord));
    return actionsReadable && channelIsReadable(body) && teamIsReadable(body);
  }
  if (type === 'shortcut' || type === 'message_action') {
    return channelIsReadable(body) && teamIsReadable(body);
  }
  if (type === 'view_submission' || type === 'view_closed') {
    return isRecord(body.view) && teamIsReadable(body);
  }
  return true;
}

/** Bolt looks for the conversation with `in` on the event, its `channel` and its `item`. */
function eventIsRoutable(event: unknown): boolean {
  if (!isRecord(event)) return false;
  if (event.channel === null) return false;
  return event.item === undefined || isRecord(event.item);
}

/** Bolt reads `channel.id` whenever `channel` is there at all. */
function channelIsReadable(body: Record<string, unknown>): boolean {
  return body.channel === undefined || isRecord(body.channel);
}

/** Bolt takes the team from `team.id`, or else from `user.team_id`. */
function teamIsReadable(body: Record<string, unknown>): boolean {
  return (body.team !== undefined && body.team !== null) || isRecord(body.user);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
