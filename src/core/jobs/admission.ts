import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { NanoBananaError } from '../errors.js';
import { type ImageRequest, type RequestLimits, validateRequest } from '../request.js';
import { isoWeekStart } from '../week.js';
import type { Job, NewJob } from './job.js';
import {
  type AccessPolicy,
  checkAccess,
  checkBlockedWords,
  checkQuota,
  type QuotaLimits,
  quotaScopes,
  remainingQuota,
  utcDay,
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

  admit(request: NewJob): Admitted {
    const { access, clock, quotas, maxQueuedPerUser } = this.#options;
    checkAccess(access, { serverId: request.serverId, channelId: request.channelId });
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

  /**
   * `admit` for a batch: each request passes the same checks, and one admission covers them all
   * (their images together), for `insertMany`, which also leaves room for every job under the
   * user's unfinished cap.
   */
  admitBatch(requests: readonly NewJob[]): { admitted: Admitted[]; admission: Admission } {
    const admitted = requests.map((request) => this.admit(request));
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
    const { admitted } = this.admitBatch(requests);
    const first = admitted[0];
    const request = requests[0];
    if (first === undefined || request === undefined) return;
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
      await checkQuota(this.#options.store, this.#options.quotas, {
        day: first.admission.day,
        requesterId: request.requesterId,
        serverId: request.serverId,
        images: admitted.reduce((sum, each) => sum + each.admission.images, 0),
      });
    }
  }

  /** Every check `admit` and the store's admission make, without storing anything. */
  async check(request: NewJob): Promise<Admitted> {
    const admitted = this.admit(request);
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
      await checkQuota(this.#options.store, this.#options.quotas, {
        day: admission.day,
        requesterId: request.requesterId,
        serverId: request.serverId,
        images: admission.images,
      });
    }
    return admitted;
  }

  /** What a user has left today, per scope (undefined = unlimited), and the day's top users. */
  async usage(requesterId: string, serverId: string | undefined): Promise<Usage> {
    const { store, clock, quotas } = this.#options;
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
