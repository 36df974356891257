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
  // Bolt reads the enterprise of an event's first authorization.
  if (Array.isArray(body.authorizations) && !body.authorizations.every(isRecord)) return false;
  if (body.event !== undefined) return eventIsRoutable(body.event);
  if (body.command !== undefined) return true;
  if (body.name !== undefined || type === 'block_suggestion') return interactionIsReadable(body);
  if (body.actions !== undefined || type === 'dialog_submission') {
    const actions = body.actions;
    const actionsReadable =
      actions === undefined || (Array.isArray(actions) && actions.every(isRecord));
    return actionsReadable && interactionIsReadable(body);
  }
  if (type === 'shortcut' || type === 'message_action') return interactionIsReadable(body);
  if (type === 'view_submission' || type === 'view_closed') {
    return isRecord(body.view) && interactionIsReadable(body);
  }
  return true;
}

/**
 * What Bolt reads of every interaction: `channel.id` whenever `channel` is there, the team from
 * `team.id` or else `user.team_id`, the user from `user.id`, and a modal's first `response_urls`.
 */
function interactionIsReadable(body: Record<string, unknown>): boolean {
  const { channel, team, user, response_urls: responseUrls } = body;
  return (
    (channel === undefined || isRecord(channel)) &&
    isRecord(user) &&
    (team === undefined || team === null || typeof team === 'object') &&
    (responseUrls === undefined || (Array.isArray(responseUrls) && responseUrls.every(isRecord)))
  );
}

/**
 * Bolt looks for the event's conversation and user with `in` and property reads: on `channel`
 * (a string, or an object), `item`, `user` (a string, or an object) and `subteam`.
 */
function eventIsRoutable(event: unknown): boolean {
  if (!isRecord(event)) return false;
  const { channel, item, user, subteam } = event;
  return (
    (channel === undefined || typeof channel === 'string' || isRecord(channel)) &&
    (item === undefined || isRecord(item)) &&
    user !== null &&
    (subteam === undefined || isRecord(subteam))
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
