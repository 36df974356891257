import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { NanoBananaError } from '../errors.js';
import type { ServerSettings } from '../preferences/server-settings.js';
import type { SettingsPort } from '../preferences/settings-port.js';
import { type ImageRequest, type RequestLimits, validateRequest } from '../request.js';
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
  /** Servers' own settings (channels, daily limit), inside the operator's; none: only those. */
  readonly settings?: Pick<SettingsPort, 'server'> | undefined;
}

/** A request that passed the checks that need no store, and what its admission is. */
export interface Admitted {
  readonly validated: ImageRequest;
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
   * The settings of the request's server, read once per request: its channels and its daily
   * limit bind every request there. A direct message has none.
   */
  async serverSettings(platform: string, serverId: string | undefined): Promise<ServerSettings> {
    const { settings } = this.#options;
    if (settings === undefined || serverId === undefined) return {};
    return settings.server(platform, serverId);
  }

  admit(request: NewJob, server: ServerSettings = {}): Admitted {
    const { access, clock, maxQueuedPerUser } = this.#options;
    checkAccess(access, { serverId: request.serverId, channelId: request.channelId });
    checkServerChannels(server, request);
    const quotas = withServerLimit(this.#options.quotas, server);
    const validated = this.#validate(request);
    checkBlockedWords(access, validated.prompt);
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
    return { validated, isAdmin, admission };
  }

  /** Every check `admit` and the store's admission make, without storing anything. */
  async check(request: NewJob): Promise<Admitted> {
    const server = await this.serverSettings(request.platform, request.serverId);
    const admitted = this.admit(request, server);
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
      await checkQuota(this.#options.store, withServerLimit(this.#options.quotas, server), {
        day: admission.day,
        requesterId: request.requesterId,
        serverId: request.serverId,
        images: admission.images,
      });
    }
    return admitted;
  }

  /** What a user has left today, per scope (undefined = unlimited), and the day's top users. */
  async usage(
    requesterId: string,
    serverId: string | undefined,
    platform?: string,
  ): Promise<Usage> {
    const { store, clock } = this.#options;
    const server = platform === undefined ? {} : await this.serverSettings(platform, serverId);
    const quotas = withServerLimit(this.#options.quotas, server);
    const day = utcDay(clock.now());
    const [remaining, topUsers] = await Promise.all([
      this.isAdmin(requesterId)
        ? { user: undefined, server: undefined, total: undefined }
        : remainingQuota(store, quotas, { day, requesterId, serverId }),
      store.topUsers(day, serverId, 5),
    ]);
    return { ...remaining, limits: quotas, topUsers };
  }

  #validate(request: NewJob): ImageRequest {
    // Platform inputs are fetched later; a placeholder stands for each in the checks that count them.
    const imageUrls = request.inputs.map((input) =>
      input.kind === 'url' ? input.url : 'data:image/png;base64,',
    );
    return validateRequest(
      {
        action: request.action,
        prompt: request.prompt,
        model: request.options.model,
        aspectRatio: request.options.aspectRatio,
        resolution: request.options.resolution,
        count: request.options.count,
        imageUrls,
      },
      this.#options.requestLimits,
    );
  }
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
