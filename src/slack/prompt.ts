import { expandBatch, parsePromptFlags, type RequestedOptions, translate } from '../core/index.js';
import { helpText } from './blocks.js';
import { describeFailure } from './describe.js';
import { historyText } from './history.js';
import { preferAnswer } from './prefer.js';
import type { SlackRuntime } from './runtime.js';
import { slackText } from './texts.js';

/** What a user's text asks for: a request, or something answered privately at once. */
export type PromptReading =
  | {
      readonly kind: 'request';
      readonly prompt: string;
      readonly options: RequestedOptions;
      readonly style?: string | undefined;
      /**
       * The prompts of the jobs to make: one, or several for a batch (`{red, blue} bird`,
       * `--repeat 2`), already within the limit.
       */
      readonly prompts: readonly string[];
      /** `--blend` was typed: the entry point blends its images (2 to 5) or says how. */
      readonly blend?: boolean;
    }
  | { readonly kind: 'answer'; readonly text: string };

/**
 * Reads a prompt and its flags (`a white cat --ar 16:9 --model pro`) with the core's parser.
 * `--help`, `--usage` and a bad flag become answers; the rest of the checks (an empty prompt, the
 * quota...) are the engine's, made before anything is posted.
 */
export async function readPrompt(
  runtime: SlackRuntime,
  text: string,
  who: { readonly userId: string; readonly serverId: string | undefined; readonly locale: string },
  /** The model unless the prompt names one (an edited result's); else resolved at admission. */
  model?: string,
): Promise<PromptReading> {
  const { locale } = who;
  let parsed: ReturnType<typeof parsePromptFlags>;
  try {
    parsed = parsePromptFlags(text, runtime.config.catalog);
  } catch (error) {
    return { kind: 'answer', text: describeFailure(error, locale) };
  }
  if (parsed.help) {
    const models = runtime.config.catalog.modelIds;
    return { kind: 'answer', text: helpText(locale, runtime.settings.command, models) };
  }
  if (parsed.usage) return { kind: 'answer', text: await usageText(runtime, who) };
  if (parsed.prefer === true)
    return { kind: 'answer', text: await preferAnswer(runtime, parsed, who) };
  // Only the slash command opens the settings form (it needs the command's trigger).
  if (parsed.settings) {
    const command = runtime.settings.command;
    return { kind: 'answer', text: slackText(locale, 'server_settings.command_only', { command }) };
  }
  if (parsed.history) return { kind: 'answer', text: await historyText(runtime, who) };
  let prompts: string[];
  try {
    prompts = expandBatch(parsed.prompt, parsed.repeat ?? 1);
  } catch (error) {
    return { kind: 'answer', text: describeFailure(error, locale) };
  }
  return {
    kind: 'request',
    prompts,
    // One job: its prompt with any `{single}` group and escapes read. A batch: as typed.
    prompt: prompts.length === 1 ? (prompts[0] ?? parsed.prompt) : parsed.prompt,
    options: {
      model: parsed.model ?? model,
      aspectRatio: parsed.aspectRatio,
      resolution: parsed.resolution,
      count: parsed.count,
    },
    style: parsed.style,
    ...(parsed.blend === true ? { blend: true } : {}),
  };
}

/** What the user has left today: the tightest of their own, the workspace's and the bot's quota. */
async function usageText(
  runtime: SlackRuntime,
  who: { readonly userId: string; readonly serverId: string | undefined; readonly locale: string },
): Promise<string> {
  const usage = await runtime.jobs.usage(who.userId, who.serverId, 'slack');
  const left = [usage.user, usage.server, usage.total].filter(
    (value): value is number => value !== undefined,
  );
  const today =
    left.length === 0
      ? translate(who.locale, 'usage.unlimited')
      : translate(who.locale, 'usage.remaining', { images: Math.min(...left) });
  return `${today}\n${translate(who.locale, 'usage.week', { images: usage.week })}`;
}

/**
 * A message's text as the user wrote it: without the bot's mention (how the message addresses it,
 * not what to draw), links and mentions as their labels, and Slack's `&amp;`, `&lt;`, `&gt;`
 * turned back into characters.
 */
export function plainText(text: string, botUserId: string): string {
  return text
    .replace(
      /<([^<>|]*)(?:\|([^<>]*))?>/g,
      (_markup, target: string, label: string | undefined) => {
        if (target === `@${botUserId}`) return ' ';
        return label ?? target.replace(/^[@#!]/, '');
      },
    )
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}
