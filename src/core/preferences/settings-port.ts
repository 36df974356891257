// TEMPORARY stand-in for the foundation's file (issue 13): replaced by main's version at merge.
import type { ServerSettings } from './server-settings.js';

export interface SettingsPort {
  server(platform: string, serverId: string): Promise<ServerSettings>;
  saveServer(platform: string, serverId: string, settings: ServerSettings): Promise<ServerSettings>;
}
