import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { isNanoBananaError, NanoBananaError } from '../errors.js';
import {
  type AppliedDefault,
  type ResolvedRequest,
  resolveRequest,
} from '../preferences/resolve.js';
import type { ServerSettings } from '../preferences/server-settings.js';
import type { SettingsPort } from '../preferences/settings-port.js';
import type { UserPreferences } from '../preferences/user-preferences.js';
import { type ImageRequest, type RequestLimits, validateRequest } from '../request.js';
import { isoWeekStart } from '../week.js';
import type { Job, NewJob } from './job.js';
import {
  type AccessPolicy,
  checkAccess,
  checkBlockedWords,
  checkQuota,
  checkServerChannels,
  type QuotaLimits,
  quotaScopes,
  remainingQuota,
  utcDay,
  withServerLimit,
} from './policy.js';
import type { Usage } from './port.js';
import type { Admission, JobStore } from './store.js';

export interface AdmissionOptions {
  readonly store: JobStore;
  readonly clock: Clock;
  readonly requestLimits: RequestLimits;
  readonly access: AccessPolicy;
  readonly quotas: QuotaLimits;
  /** Unfinished jobs one user may have (operator admins excepted). */
  readonly maxQueuedPerUser: number;
  /**
   * Where each request's defaults are read: the member's preferences and the server's settings
   * (the engine's `SettingsBook`). Absent, only the operator's defaults apply.
   */
  readonly settings?: Pick<SettingsPort, 'server' | 'preferences'> | undefined;
}

/** The stored settings a request is admitted with, read once per request (`settingsFor`). */
export interface RequestSettings {
  /** Its server's; `{}` in a direct message. */
  readonly server: ServerSettings;
  /** Its requester's, on its platform. */
  readonly preferences: UserPreferences;
}

const NO_SETTINGS: RequestSettings = { server: {}, preferences: {} };

/** A request that passed the checks that need no store, and what its admission is. */
export interface Admitted {
  /** With the defaults resolved and the style and suffix added to the prompt. */
  readonly validated: ImageRequest;
  /** The defaults the request left to preferences or the server's settings. */
  readonly appliedDefaults: readonly AppliedDefault[];
  readonly isAdmin: boolean;
  /** What the store checks atomically as it inserts the job. */
  readonly admission: Admission;
}

/**
 * Who may ask for what: the input, the allow-lists, the blocked words, the daily quotas and the
 * unfinished-job cap. `admit` runs the checks that need no store; the store then checks the quotas
 * and the cap atomically as it inserts the job (`Admission`), so that processes racing for a
 * user's last image grant it once. `check` also reads the store, for an answer before the platform
 * is acknowledged.
 */
export class Admissions {
  readonly #options: AdmissionOptions;

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /** Whether the user is an operator admin (`NANO_BANANA_ADMIN_IDS`). */
  isAdmin(userId: string): boolean {
    return this.#options.access.adminIds.has(userId);
  }

  /**
   * The member's preferences and the server's settings for a request, read together: the
   * defaults of every request come from them (`resolveRequest`).
   */
  async settingsFor(
    request: Pick<NewJob, 'platform' | 'requesterId' | 'serverId'>,
  ): Promise<RequestSettings> {
    const { settings } = this.#options;
    if (settings === undefined) return NO_SETTINGS;
    const [server, preferences] = await Promise.all([
      request.serverId === undefined ? {} : settings.server(request.platform, request.serverId),
      settings.preferences(request.platform, request.requesterId),
    ]);
    return { server, preferences };
  }

  admit(request: NewJob, settings: RequestSettings = NO_SETTINGS): Admitted {
    const { access, clock, maxQueuedPerUser } = this.#options;
    checkAccess(access, {
      serverId: request.serverId,
      channelId: request.channelId,
      parentChannelId: request.parentChannelId,
    });
    // The server's own channels and daily limit, inside the operator's (its `/settings`).
    checkServerChannels(settings.server, request);
    const quotas = withServerLimit(this.#options.quotas, settings.server);
    const resolved = this.#resolve(request, settings);
    const validated = this.#validate(request, resolved);
    checkExpandedPrompt(access, validated.prompt, request.prompt, resolved);
    const day = utcDay(clock.now());
    // Only the operator admins skip the daily quotas. A platform's own admins (a Discord
    // server's Administrator, a Slack workspace admin) get no exemption: anyone can create a
    // server and invite the bot, and the credits are the operator's.
    const isAdmin = this.isAdmin(request.requesterId);
    const admission: Admission = isAdmin
      ? { day, images: 0, quotas: [] }
      : {
          day,
          images: validated.count ?? 1,
          quotas: quotaScopes(quotas, {
            day,
            requesterId: request.requesterId,
            serverId: request.serverId,
          }),
          maxUnfinished: maxQueuedPerUser,
        };
    return { validated, appliedDefaults: resolved.appliedDefaults, isAdmin, admission };
  }

  /**
   * `admit` for a batch: each request passes the same checks, and one admission covers them all
   * (their images together), for `insertMany`, which also leaves room for every job under the
   * user's unfinished cap.
   */
  admitBatch(
    requests: readonly NewJob[],
    settings: RequestSettings = NO_SETTINGS,
  ): { admitted: Admitted[]; admission: Admission } {
    // One member, one server: their preferences and settings are read once for the batch.
    const admitted = requests.map((request) => this.admit(request, settings));
    const first = admitted[0];
    const firstRequest = requests[0];
    if (first === undefined || firstRequest === undefined) {
      throw new Error('A batch needs at least one request');
    }
    for (const request of requests) {
      // One admission counts against one user's and one server's quotas.
      if (
        request.requesterId !== firstRequest.requesterId ||
        request.serverId !== firstRequest.serverId
      ) {
        throw new Error('The requests of a batch must share their requester and server');
      }
    }
    const images = admitted.reduce((sum, each) => sum + each.admission.images, 0);
    return {
      admitted,
      // The store's cap check leaves room for every job of the batch (`insertMany`).
      admission: { ...first.admission, images },
    };
  }

  /** `check` for a batch: every job's checks, then the quotas and the cap for them all. */
  async checkBatch(requests: readonly NewJob[]): Promise<void> {
    const request = requests[0];
    if (request === undefined) return;
    const settings = await this.settingsFor(request);
    const { admitted } = this.admitBatch(requests, settings);
    const first = admitted[0];
    if (first === undefined) return;
    const max = first.admission.maxUnfinished;
    if (max !== undefined) {
      const unfinished = await this.#options.store.unfinishedJobs(request.requesterId);
      if (unfinished + requests.length > max) {
        throw new NanoBananaError('too_many_queued', 'The user has too many unfinished jobs', {
          params: { max },
        });
      }
    }
    if (!first.isAdmin) {
      // The server's own daily limit (its settings) counts as in `check`.
      await checkQuota(
        this.#options.store,
        withServerLimit(this.#options.quotas, settings.server),
        {
          day: first.admission.day,
          requesterId: request.requesterId,
          serverId: request.serverId,
          images: admitted.reduce((sum, each) => sum + each.admission.images, 0),
        },
      );
    }
  }

  /** Every check `admit` and the store's admission make, without storing anything. */
  async check(request: NewJob): Promise<Admitted> {
    const settings = await this.settingsFor(request);
    const admitted = this.admit(request, settings);
    const { admission } = admitted;
    if (admission.maxUnfinished !== undefined) {
      const unfinished = await this.#options.store.unfinishedJobs(request.requesterId);
      if (unfinished >= admission.maxUnfinished) {
        throw new NanoBananaError('too_many_queued', 'The user has too many unfinished jobs', {
          params: { max: admission.maxUnfinished },
        });
      }
    }
    if (!admitted.isAdmin) {
      await checkQuota(
        this.#options.store,
        withServerLimit(this.#options.quotas, settings.server),
        {
          day: admission.day,
          requesterId: request.requesterId,
          serverId: request.serverId,
          images: admission.images,
        },
      );
    }
    return admitted;
  }

  /**
   * What a user has left today, per scope (undefined = unlimited), and the day's top users. With
   * the platform, the server's own daily limit (its settings) counts too.
   */
  async usage(
    requesterId: string,
    serverId: string | undefined,
    platform?: string,
  ): Promise<Usage> {
    const { store, clock, settings } = this.#options;
    const server =
      settings === undefined || platform === undefined || serverId === undefined
        ? {}
        : await settings.server(platform, serverId);
    const quotas = withServerLimit(this.#options.quotas, server);
    const day = utcDay(clock.now());
    const [remaining, topUsers, week] = await Promise.all([
      this.isAdmin(requesterId)
        ? { user: undefined, server: undefined, total: undefined }
        : remainingQuota(store, quotas, { day, requesterId, serverId }),
      store.topUsers(day, serverId, 5),
      store.reservedImagesBetween(requesterId, isoWeekStart(day), day),
    ]);
    return { ...remaining, week, limits: quotas, topUsers };
  }

  /**
   * The request's options and prompt after the precedence of defaults: what it says, then the
   * member's preferences, the server's settings, the operator's defaults (`resolveRequest`).
   */
  #resolve(request: NewJob, settings: RequestSettings): ResolvedRequest {
    const { requestLimits } = this.#options;
    return resolveRequest({
      action: request.action,
      prompt: request.prompt,
      options: request.options,
      style: request.style,
      promptIsFinal: request.promptIsFinal,
      preferences: settings.preferences,
      server: settings.server,
      defaultModel: requestLimits.defaultModel,
      catalog: requestLimits.catalog,
    });
  }

  #validate(request: NewJob, resolved: ResolvedRequest): ImageRequest {
    // Platform inputs are fetched later; a placeholder stands for each in the checks that count them.
    const imageUrls = request.inputs.map((input) =>
      input.kind === 'url' ? input.url : 'data:image/png;base64,',
    );
    try {
      return validateRequest(
        {
          action: request.action,
          prompt: resolved.prompt,
          model: resolved.options.model,
          aspectRatio: resolved.options.aspectRatio,
          resolution: resolved.options.resolution,
          count: resolved.options.count,
          imageUrls,
        },
        this.#options.requestLimits,
      );
    } catch (error) {
      // Over the length only because of the style and suffix: say so, or the member who typed
      // ten words is told their prompt is too long.
      if (
        resolved.additions.length > 0 &&
        isNanoBananaError(error) &&
        error.params.reason === 'prompt_too_long'
      ) {
        const added = characters(resolved.prompt.trim()) - characters(request.prompt.trim());
        throw new NanoBananaError('invalid_input', error.message, {
          params: { ...error.params, added },
        });
      }
      throw error;
    }
  }
}

/**
 * The blocked words, in the prompt as it will be sent. When the member's own text passes and a
 * saved style or suffix holds the word, the refusal says which, since they did not type it now.
 */
function checkExpandedPrompt(
  access: AccessPolicy,
  prompt: string,
  typed: string,
  resolved: ResolvedRequest,
): void {
  try {
    checkBlockedWords(access, prompt);
  } catch (error) {
    if (!isNanoBananaError(error) || resolved.additions.length === 0) throw error;
    checkBlockedWords(access, typed);
    for (const addition of resolved.additions) {
      try {
        checkBlockedWords(access, addition.text);
      } catch (inAddition) {
        if (!isNanoBananaError(inAddition)) throw inAddition;
        throw new NanoBananaError('blocked_prompt', inAddition.message, {
          params: { ...inAddition.params, source: addition.kind },
        });
      }
    }
    throw error;
  }
}

function characters(text: string): number {
  return [...text].length;
}

/** A new job, waiting, as a request becomes once it is admitted. */
export function newJob(request: NewJob, admitted: Admitted, now: number): Job {
  const { validated, isAdmin, admission } = admitted;
  return {
    id: newId(),
    platform: request.platform,
    dedupKey: request.dedupKey,
    requesterId: request.requesterId,
    serverId: request.serverId,
    channelId: request.channelId,
    locale: request.locale,
    requesterIsAdmin: isAdmin,
    action: validated.action,
    prompt: validated.prompt,
    options: {
      model: validated.model,
      aspectRatio: validated.aspectRatio,
      resolution: validated.resolution,
      count: validated.count,
      ...(admitted.appliedDefaults.length === 0
        ? {}
        : { appliedDefaults: admitted.appliedDefaults }),
    },
    inputs: request.inputs,
    destination: request.destination,
    parentJobId: request.parentJobId,
    state: 'queued',
    createdAt: now,
    updatedAt: now,
    startedAt: undefined,
    finishedAt: undefined,
    taskId: undefined,
    traceId: undefined,
    callbackToken: randomBytes(24).toString('base64url'),
    reservedImages: admission.images,
    quotaDay: admission.day,
    result: undefined,
    error: undefined,
    delivery: undefined,
    deliveryAttempts: 0,
    timeoutNotified: false,
  };
}

/** Short, unguessable, URL- and custom-id-safe job ids. */
function newId(): string {
  return randomBytes(12).toString('base64url');
}
