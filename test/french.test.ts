import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createModelCatalog } from '../src/core/models.js';
import { commandDefinitions } from '../src/discord/commands.js';
import { discordText, discordTextKeys } from '../src/discord/texts.js';
import { slackText, slackTextKeys } from '../src/slack/texts.js';

/**
 * Every text an adapter shows exists in French: modals, buttons, refusals, not-in-channel notices,
 * the Discord commands' localisations. The core's catalogue has its own test (messages.test.ts).
 */

/** Every parameter an adapter text takes, with a value a front end would pass. */
const PARAMETERS = {
  bot: 'nanobanana',
  channel: 'C123',
  code: 'not_in_channel',
  count: 4,
  elapsed: '2.5 s',
  error: 'Something failed.',
  from: 2,
  list: '<@1> 4',
  max: '10 MB',
  mention: '<@42>',
  model: 'nano-banana',
  name: 'cat.png',
  number: 2,
  permission: 'Attach Files',
  position: 3,
  prompt: 'a red fox',
  ratio: '16:9',
  resolution: '1K',
  scope: 'channels:history',
  seconds: '2.5',
  size: '12 MB',
  to: 4,
  total: 4,
  user: 'U42',
} as const;

/** Texts made only of parameters and symbols, the same in both languages. */
const DISCORD_SAME_IN_BOTH = new Set(['result.header', 'result.details']);
const SLACK_SAME_IN_BOTH = new Set(['failed.text', 'modal.image_option', 'settings.count']);

type Render = (locale: string, key: string, parameters: Record<string, string | number>) => string;

const renderDiscord: Render = (locale, key, parameters) =>
  discordText(locale, key as Parameters<typeof discordText>[1], parameters);
const renderSlack: Render = (locale, key, parameters) =>
  slackText(locale, key as Parameters<typeof slackText>[1], parameters);

describe.each([
  ['Discord', discordTextKeys, renderDiscord, DISCORD_SAME_IN_BOTH],
  ['Slack', slackTextKeys, renderSlack, SLACK_SAME_IN_BOTH],
] as const)('the %s adapter’s texts', (_platform, keysOf, render, sameInBoth) => {
  it('have a French text for every English one, and no other', () => {
    const english = [...keysOf('en')].sort();
    expect(english.length).toBeGreaterThan(10);
    expect([...keysOf('fr')].sort()).toEqual(english);
  });

  it('say it in French, complete, not in English', () => {
    for (const key of keysOf('en')) {
      const english = render('en', key, PARAMETERS);
      const french = render('fr', key, PARAMETERS);
      expect(french.trim(), key).not.toBe('');
      expect(french, key).not.toMatch(/[{}]|undefined|NaN|null|\[object /);
      if (!sameInBoth.has(key)) expect(french, key).not.toBe(english);
      else expect(french, key).toBe(english);
    }
  });

  it('use the same parameters in both languages', () => {
    for (const key of keysOf('en')) {
      for (const name of Object.keys(PARAMETERS)) {
        const marked = { ...PARAMETERS, [name]: 'MARKER' };
        expect(render('fr', key, marked).includes('MARKER'), `${key} {${name}}`).toBe(
          render('en', key, marked).includes('MARKER'),
        );
      }
    }
  });

  it('follow French typography', () => {
    for (const key of keysOf('fr')) {
      const french = render('fr', key, PARAMETERS);
      // A narrow no-break space before : ; ! ? » and after «; a typographic apostrophe.
      expect(french, key).not.toMatch(/[^\u202F][;!?»]|[^\u202F\d]:(\s|$)|«[^\u202F]/);
      expect(french, key).not.toContain("'");
    }
  });
});

interface CommandPart {
  name: string;
  type?: number;
  description?: string;
  name_localizations?: Record<string, string> | null;
  description_localizations?: Record<string, string> | null;
  options?: CommandPart[];
}

describe('the Discord commands', () => {
  const commands = () => commandDefinitions(createModelCatalog()) as CommandPart[];

  /** Every command and option, with a path naming it for the failure message. */
  function parts(): [string, CommandPart][] {
    const found: [string, CommandPart][] = [];
    const visit = (part: CommandPart, path: string) => {
      found.push([path, part]);
      for (const option of part.options ?? []) visit(option, `${path} ${option.name}`);
    };
    for (const command of commands()) visit(command, command.name);
    return found;
  }

  it('describe every command and option in French too', () => {
    const described = parts().filter(([, part]) => (part.description ?? '') !== '');
    expect(described.length).toBeGreaterThan(5);
    for (const [path, part] of described) {
      const french = part.description_localizations?.fr ?? '';
      expect(french, path).not.toBe('');
      expect(french, path).not.toBe(part.description);
      expect(french.length, path).toBeLessThanOrEqual(100);
    }
  });

  it('name the message context menu in French, the only text it shows', () => {
    // Type 3 at the top is a message command (in an option it would be a string).
    const contextMenus = commands().filter((command) => command.type === 3);
    expect(contextMenus.map((command) => command.name)).toEqual(['Edit image']);
    for (const command of contextMenus) {
      const french = command.name_localizations?.fr ?? '';
      expect(french, command.name).not.toBe('');
      expect(french, command.name).not.toBe(command.name);
      // What the French help tells people to click must be the name they see.
      expect(discordText('fr', 'reply.no_image_other_user')).toContain(`**${french}**`);
      expect(discordText('en', 'reply.no_image_other_user')).toContain(`**${command.name}**`);
    }
  });
});

describe('the Slack shortcut', () => {
  it('is called by its own name in the French help: Slack does not translate it', () => {
    const manifest = readFileSync('slack/manifest.yml', 'utf8');
    const name = /shortcuts:\s*\n\s*- name: (.+)\n/.exec(manifest)?.[1]?.trim();
    expect(name).toBe('Edit image');
    expect(slackText('en', 'help.slack')).toContain(`*${name}*`);
    expect(slackText('fr', 'help.slack')).toContain(`*${name}*`);
  });
});
