import type { MockTask } from '../../src/mock-api/index.js';

/**
 * The most mock tasks ever running at the same moment, from their start and finish times: what
 * the limits on tasks in flight (global, per user, fleet-wide) are checked against.
 */
export function peakOverlap(tasks: readonly MockTask[]): number {
  const edges = tasks.flatMap((task) => {
    if (task.finishedAt === undefined) throw new Error(`task ${task.id} has not finished`);
    return [
      { at: task.startedAt, change: 1 },
      { at: task.finishedAt, change: -1 },
    ];
  });
  // A task that ends at the very moment another starts does not overlap it: ends first.
  edges.sort((left, right) => left.at - right.at || left.change - right.change);
  let running = 0;
  let peak = 0;
  for (const edge of edges) {
    running += edge.change;
    peak = Math.max(peak, running);
  }
  return peak;
}
