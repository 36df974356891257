import type { JobPort } from '../core/index.js';
import type { JobEngine } from '../core/jobs/engine.js';

/**
 * TEMPORARY BRIDGE, removed by the integrator once the asynchronous engine (#12) lands and
 * implements `JobPort` itself: today's synchronous `JobEngine` seen through the port, so that the
 * adapters already code against the port, awaiting every call. A refusal thrown by the engine
 * becomes a rejection, as the port promises.
 */
export function engineAsPort(engine: JobEngine, maxConcurrentJobs: number): JobPort {
  return {
    check: async (request) => engine.check(request),
    submit: async (request) => engine.submit(request),
    cancel: async (jobId, userId) => engine.cancel(jobId, userId),
    getJob: async (jobId) => engine.getJob(jobId),
    usage: async (requesterId, serverId) => engine.usage(requesterId, serverId),
    isAdmin: (userId) => engine.isAdmin(userId),
    mayDelete: (job, userId, moderator) => engine.mayDelete(job, userId, moderator),
    forgetResult: async (jobId) => engine.forgetResult(jobId),
    updateDestination: async (jobId, destination) => engine.updateDestination(jobId, destination),
    likelyToWait: async () => {
      const { paused, queued, inFlight } = engine.stats;
      return paused || queued > 0 || inFlight >= maxConcurrentJobs;
    },
  };
}
