export { createDiscordAdapter, type DiscordAdapterOptions, discordAdapter } from './adapter.js';
export { commandDefinitions, inviteUrl, REQUIRED_PERMISSIONS, syncCommands } from './commands.js';
export { type DiscordSettings, readDiscordSettings } from './settings.js';
