/**
 * The core's public surface: what the chat adapters, the service and the command line use. The
 * adapters import from here only, never from the core's files directly, and never each other.
 */

export { AcceptanceGate } from './acceptance-gate.js';
export type { AuditEvent, AuditLineParts, AuditRegistry, AuditSink } from './audit/index.js';
export { AuditChannelClosed, composeAuditLine } from './audit/index.js';
export {
  batchDedupKey,
  batchRequests,
  expandBatch,
  MAX_BATCH_JOBS,
  MAX_REPEAT,
  MIN_REPEAT,
} from './batch.js';
export {
  blendPrompt,
  checkBlendImages,
  DEFAULT_BLEND_PROMPT,
  MAX_BLEND_IMAGES,
  MIN_BLEND_IMAGES,
} from './blend.js';
export type { Clock } from './clock.js';
export { systemClock } from './clock.js';
export type { Config, Environment } from './config.js';
export { ConfigError, loadConfig } from './config.js';
export type { ErrorCode, ErrorParams, InputProblem } from './errors.js';
export {
  ERROR_CODES,
  INPUT_PROBLEMS,
  invalidInput,
  isNanoBananaError,
  NanoBananaError,
  toNanoBananaError,
} from './errors.js';
export type { ParsedPrompt } from './flags.js';
export { FLAG_NAMES, parsePromptFlags } from './flags.js';
export { HISTORY_LIMIT, retentionNote, shortPrompt, stateLabel } from './history.js';
export type {
  ImageActionKind,
  ImageActionRequest,
  ImageActionTarget,
  Presser,
  UpscaleChoice,
} from './image-actions.js';
export {
  displayPrompt,
  IMAGE_ACTION_PREFIX,
  imageActionId,
  imageActionRequest,
  parseImageActionId,
  resultImageCount,
  resultImageUrl,
  upscaleChoices,
} from './image-actions.js';
export type {
  DownloadRefusal,
  FittedImage,
  ImageChange,
  ImageFile,
  ImageMime,
  InputImage,
  PreparedInputImage,
} from './images/index.js';
export {
  describeImage,
  detectImageType,
  downloadImage,
  fitImage,
  MAX_INPUT_IMAGE_BYTES,
  prepareInputImage,
} from './images/index.js';
export type {
  DeliveryCheckpoint,
  PlatformAdapter,
  ProgressEvent,
  ResultImageFile,
} from './jobs/adapter.js';
export { missingImages } from './jobs/adapter.js';
export type { EngineStats, JobEngineOptions } from './jobs/engine.js';
export { CALLBACK_PATH_PREFIX, JobEngine } from './jobs/engine.js';
export type { InputReference, Job, JobError, JobOptions, JobState, NewJob } from './jobs/job.js';
export { isFinal } from './jobs/job.js';
export type { NamedLocks } from './jobs/named-locks.js';
export { checkServerLimitCeiling } from './jobs/policy.js';
export type { CancelOutcome, JobPort, Submitted, Usage } from './jobs/port.js';
export type { SerializedError } from './log-serializer.js';
export { maskCredentials, maskRoute, serializeError } from './log-serializer.js';
export type { Logger } from './logger.js';
export { createLogger, redactSecrets, silentLogger } from './logger.js';
export type { Locale, MessageKey, MessageParams } from './messages.js';
export { describeError, errorMessageKey, LOCALES, resolveLocale, translate } from './messages.js';
export type { AspectRatio, ModelCatalog, ModelSpec, PixelSize, Resolution } from './models.js';
export {
  ASPECT_RATIOS,
  MAX_COUNT,
  MAX_INPUT_IMAGES,
  MIN_COUNT,
  outputSize,
  RESOLUTIONS,
} from './models.js';
export { isTrustedUrl, originOf, trustedOrigins } from './net/index.js';
export type { SettingsPlace } from './preferences/applied-defaults-note.js';
export { appliedDefaultsNote } from './preferences/applied-defaults-note.js';
export type {
  ClearablePreference,
  PreferenceChange,
  PreferenceRules,
} from './preferences/change-preferences.js';
export { CLEARABLE_PREFERENCES, changePreferences } from './preferences/change-preferences.js';
export { preferencesLines } from './preferences/describe-preferences.js';
export {
  MAX_SERVER_CHANNELS,
  MAX_SERVER_DAILY_IMAGES,
  MAX_STYLE_TEXT_LENGTH,
  MAX_STYLES,
  MAX_SUFFIX_LENGTH,
  type ServerSettings,
  SettingsBook,
  type SettingsPort,
  STYLE_NAME,
  settingsKey,
  type UserPreferences,
} from './preferences/index.js';
export type {
  AppliedDefault,
  DefaultedSetting,
  DefaultSource,
  RequestedOptions,
} from './preferences/resolve.js';
export type { SettingsLinesOptions } from './preferences/server-settings-lines.js';
export { serverSettingsLines } from './preferences/server-settings-lines.js';
export type { ImageAction, ImageRequest, ImageRequestInput, RequestLimits } from './request.js';
export { validateRequest } from './request.js';
export * as settings from './settings.js';
export { ProgressThrottle } from './throttle.js';
export { isoWeekStart } from './week.js';
