export type {
  Delivery,
  DeliveryOptions,
  DeliveryTarget,
  FakeSlack,
  FakeSlackFault,
  FakeSlackOptions,
  RecordedApiCall,
  RecordedDownload,
  RecordedLateAck,
  RecordedResponse,
  RecordedUpload,
} from './fake-slack.js';
export { ACK_DEADLINE_MS, FAKE_SLACK_DEFAULTS, startFakeSlack } from './fake-slack.js';
export type {
  BlockActionSpec,
  MessageShortcutSpec,
  SlashCommandPayload,
  SlashCommandSpec,
  UserMessageSpec,
  ViewSubmissionSpec,
} from './payloads.js';
export type { SignedRequest, SignOptions } from './signing.js';
export { formEncode, signSlackRequest } from './signing.js';
export type { EnvelopeOptions, EnvelopeType, RecordedEnvelope, SocketAck } from './socket-mode.js';
export type {
  FakeSlackChannelSpec,
  FakeSlackFile,
  FakeSlackMessage,
  FakeSlackUserSpec,
  FakeSlackView,
  SlackFileObject,
} from './workspace.js';
export {
  DEFAULT_SCOPES,
  RESPONSE_URL_LIFETIME_MS,
  RESPONSE_URL_USES,
  TRIGGER_LIFETIME_MS,
} from './workspace.js';
