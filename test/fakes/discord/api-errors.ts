/**
 * Discord's error bodies: `{message, code}`, and for invalid forms (50035) an `errors` tree whose
 * leaves are `{_errors: [{code, message}]}`.
 */

/** What a REST handler answers; 204 carries no body. */
export interface ApiReply {
  status: number;
  body?: unknown;
}

export function apiError(status: number, code: number, message: string): ApiReply {
  return { status, body: { message, code } };
}

export const errors = {
  unauthorized: () => apiError(401, 0, '401: Unauthorized'),
  notFound: () => apiError(404, 0, '404: Not Found'),
  methodNotAllowed: () => apiError(405, 0, '405: Method Not Allowed'),
  unknownChannel: () => apiError(404, 10003, 'Unknown Channel'),
  unknownGuild: () => apiError(404, 10004, 'Unknown Guild'),
  unknownMember: () => apiError(404, 10007, 'Unknown Member'),
  unknownMessage: () => apiError(404, 10008, 'Unknown Message'),
  unknownUser: () => apiError(404, 10013, 'Unknown User'),
  unknownWebhook: () => apiError(404, 10015, 'Unknown Webhook'),
  unknownCommand: () => apiError(404, 10063, 'Unknown application command'),
  unknownInteraction: () => apiError(404, 10062, 'Unknown interaction'),
  tooLarge: () => apiError(413, 40005, 'Request entity too large'),
  alreadyAcknowledged: () => apiError(400, 40060, 'Interaction has already been acknowledged.'),
  missingAccess: () => apiError(403, 50001, 'Missing Access'),
  cannotSendToUser: () => apiError(403, 50007, 'Cannot send messages to this user'),
  cannotEditOthers: () => apiError(403, 50005, 'Cannot edit a message authored by another user'),
  emptyMessage: () => apiError(400, 50006, 'Cannot send an empty message'),
  missingPermissions: () => apiError(403, 50013, 'Missing Permissions'),
  wrongChannelType: () => apiError(400, 50024, 'Cannot execute action on this channel type'),
  invalidWebhookToken: () => apiError(401, 50027, 'Invalid Webhook Token'),
  invalidJson: () => apiError(400, 50109, 'The request body contains invalid JSON.'),
  threadArchived: () => apiError(400, 50083, 'Operation is not allowed on an archived thread'),
  threadAlreadyCreated: () =>
    apiError(400, 160004, 'A thread has already been created for this message'),
  threadLocked: () => apiError(400, 160005, 'Thread is locked'),
};

interface ErrorLeaf {
  code: string;
  message: string;
}

type ErrorTree = { [key: string]: ErrorTree } & { _errors?: ErrorLeaf[] };

/** Collects field errors under their paths and answers them as one 50035 Invalid Form Body. */
export class FormErrors {
  private readonly tree: ErrorTree = {};
  private count = 0;

  add(path: readonly (string | number)[], code: string, message: string): void {
    let node: ErrorTree = this.tree;
    for (const segment of path) {
      const key = String(segment);
      node[key] ??= {};
      node = node[key] as ErrorTree;
    }
    node._errors = [...(node._errors ?? []), { code, message }];
    this.count += 1;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  toReply(): ApiReply {
    return { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: this.tree } };
  }
}

/** A single-field 50035 answer. */
export function formError(
  path: readonly (string | number)[],
  code: string,
  message: string,
): ApiReply {
  const formErrors = new FormErrors();
  formErrors.add(path, code, message);
  return formErrors.toReply();
}
