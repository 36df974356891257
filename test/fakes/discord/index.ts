/** A local fake Discord (REST v10, gateway, CDN) for driving the real discord.js in tests. */
export { FakeDiscord } from './fake-discord.js';
export type { RecordedIdentify } from './gateway.js';
export type {
  FakeActorSpec,
  FakeAttachment,
  FakeAttachmentSpec,
  FakeChannelSpec,
  FakeComponentSpec,
  FakeDiscordOptions,
  FakeGuildSpec,
  FakeInteraction,
  FakeInteractionCallback,
  FakeInteractionResponses,
  FakeMemberSpec,
  FakeMessage,
  FakeMessageCommandSpec,
  FakeMessageReference,
  FakeModalSubmitSpec,
  FakeOptionValue,
  FakeRoleSpec,
  FakeSlashCommandSpec,
  FakeThread,
  FakeThreadSpec,
  FakeUser,
  FakeUserMessageSpec,
  FakeUserSpec,
  JsonObject,
  PermissionName,
  RecordedCdnRequest,
  RecordedRestCall,
  WaitForOptions,
} from './types.js';
export { INTENTS, MIB, PERMISSION_BITS } from './types.js';
