/**
 * Splits a command line into the command's own options and the prompt text. The prompt and its
 * flags (`--ar 16:9`, `—model pro`...) are left for the core's flag parser, the same one chat users
 * go through, so the command line and the bots accept exactly the same flags.
 */

export interface OptionSpec {
  /** Takes a value (`--out DIR`, `--out=DIR`); otherwise a switch. */
  readonly value: boolean;
  /** May be given more than once (`--image`). */
  readonly repeat?: boolean;
}

export interface SplitArguments {
  readonly options: ReadonlyMap<string, readonly string[]>;
  /** Everything else, joined with spaces: the prompt with its flags. */
  readonly text: string;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTION_PATTERN = /^(?:--|[—–])([a-z][a-z-]*)(?:=(.*))?$/is;

export function splitArguments(
  args: readonly string[],
  specs: Readonly<Record<string, OptionSpec>>,
): SplitArguments {
  const options = new Map<string, string[]>();
  const rest: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    const match = OPTION_PATTERN.exec(arg);
    const name = match?.[1]?.toLowerCase();
    const spec = name === undefined ? undefined : specs[name];
    if (match === null || name === undefined || spec === undefined) {
      rest.push(arg);
      continue;
    }
    const values = options.get(name) ?? [];
    if (!spec.value) {
      values.push('true');
    } else {
      const value = match[2] ?? args[++index];
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
      values.push(value);
    }
    if (values.length > 1 && !spec.repeat) throw new UsageError(`--${name} was given twice`);
    options.set(name, values);
  }
  return { options, text: rest.join(' ') };
}
