import type { Locale } from '../messages.js';
import { translate } from '../messages.js';
import type { ServerSettings } from './server-settings.js';

/** What a platform shows of a server's settings: private results and threads are Discord's. */
export interface SettingsLinesOptions {
  /** The operator's per-server daily limit (`NANO_BANANA_DAILY_IMAGES_PER_SERVER`), 0 for none. */
  readonly operatorLimit: number;
  /** Show the Discord-only settings (results private by default, result threads). */
  readonly discordOnly: boolean;
}

/**
 * A server's (workspace's) settings, one line each, for moderators: the same on Discord and Slack,
 * where `<#id>` is a channel link alike. What is unset reads as what applies instead.
 */
export function serverSettingsLines(
  locale: Locale,
  settings: ServerSettings,
  options: SettingsLinesOptions,
): string[] {
  const text = (key: Parameters<typeof translate>[1], params = {}) =>
    translate(locale, key, params);
  const orDefault = (value: string | undefined) => value ?? text('settings.unset');
  const channels = settings.channels ?? [];
  const max = options.operatorLimit;
  const lines = [
    text('settings.model', { value: orDefault(settings.model) }),
    text('settings.aspect_ratio', { value: orDefault(settings.aspectRatio) }),
    text('settings.resolution', { value: orDefault(settings.resolution) }),
    text('settings.channels', {
      value:
        channels.length === 0
          ? text('settings.all_channels')
          : channels.map((id) => `<#${id}>`).join(', '),
    }),
    text('settings.daily_limit', {
      value:
        settings.dailyImages === undefined || settings.dailyImages <= 0
          ? text('settings.limit_none', { max })
          : text('settings.limit_images', { images: settings.dailyImages, max }),
    }),
    text('settings.audit_channel', {
      value:
        settings.auditChannelId === undefined
          ? text('settings.none')
          : `<#${settings.auditChannelId}>`,
    }),
  ];
  if (options.discordOnly) {
    const yesNo = (value: boolean) => text(value ? 'settings.yes' : 'settings.no');
    lines.push(
      text('settings.private_results', { value: yesNo(settings.privateResults ?? false) }),
      text('settings.threads', { value: yesNo(settings.threads ?? true) }),
    );
  }
  return lines;
}
