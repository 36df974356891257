/**
 * Component ids carry the action and the job id; the job's state lives in the store, so a button
 * works after a restart. Anything that does not parse is ignored (a forged or stale id).
 */
export const ACTIONS = ['reroll', 'edit', 'delete', 'cancel', 'editmodal', 'ctxedit'] as const;
export type ComponentAction = (typeof ACTIONS)[number];

const PATTERN = /^nb:([a-z]+):([A-Za-z0-9_-]{1,64})$/;

export function customId(action: ComponentAction, id: string): string {
  return `nb:${action}:${id}`;
}

export function parseCustomId(value: string): { action: ComponentAction; id: string } | undefined {
  const match = PATTERN.exec(value);
  const action = ACTIONS.find((known) => known === match?.[1]);
  const id = match?.[2];
  return action === undefined || id === undefined ? undefined : { action, id };
}
