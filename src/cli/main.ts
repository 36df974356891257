import { readFileSync } from 'node:fs';
import { UsageError } from './arguments.js';
import { type CliContext, EXIT_FAILED, EXIT_OK, EXIT_USAGE, processContext } from './context.js';
import { imagineCommand } from './imagine.js';
import { mockApiCommand } from './mock-api.js';
import { registerCommand } from './register.js';
import { startCommand } from './start.js';
import { taskCommand } from './task.js';

const USAGE = `nano-banana: AceData Cloud's Nano Banana images, from the command line and in Discord and Slack

Usage: nano-banana <command> [options]

Commands:
  start                 run the bots whose tokens are set (Discord, Slack)
  register              register the Discord commands and print the invite URL
  imagine "<prompt>"    generate or edit images and write them to files
  task <task-id>        show a task's state
  mock-api              run a local server that speaks the API (no credits spent)
  help                  this text

Run "nano-banana <command> --help" for a command's options. Settings come from the environment
(or a .env file): see the README.`;

type Command = (args: readonly string[], context: CliContext) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  imagine: imagineCommand,
  task: taskCommand,
  'mock-api': mockApiCommand,
  start: startCommand,
  register: registerCommand,
};

/** Runs the command line; returns the exit code. */
export async function main(
  args: readonly string[],
  context: CliContext = processContext(),
): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    context.stdout.write(`${USAGE}\n`);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === 'version' || name === '--version') {
    context.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    context.stderr.write(`nano-banana: unknown command "${name}"\n\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  try {
    return await command(rest, context);
  } catch (error) {
    if (error instanceof UsageError) {
      context.stderr.write(`nano-banana: ${error.message}\n`);
      return EXIT_USAGE;
    }
    context.stderr.write(`nano-banana: unexpected error: ${(error as Error).message}\n`);
    return EXIT_FAILED;
  }
}

function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
