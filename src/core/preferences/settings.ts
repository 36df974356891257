// TEMPORARY stand-in for the foundation's Settings (issue 13): in memory; replaced at merge.
import { NanoBananaError } from '../errors.js';
import { type ServerSettings, serverSettingsSchema } from './server-settings.js';
import type { SettingsPort } from './settings-port.js';

export class Settings implements SettingsPort {
  readonly #servers = new Map<string, ServerSettings>();

  async server(platform: string, serverId: string): Promise<ServerSettings> {
    return { ...(this.#servers.get(`${platform}:${serverId}`) ?? {}) };
  }

  async saveServer(
    platform: string,
    serverId: string,
    settings: ServerSettings,
  ): Promise<ServerSettings> {
    const parsed = serverSettingsSchema.safeParse(settings);
    if (!parsed.success) throw new NanoBananaError('invalid_input', 'Invalid server settings');
    this.#servers.set(`${platform}:${serverId}`, parsed.data);
    return parsed.data;
  }
}
