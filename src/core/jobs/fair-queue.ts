/**
 * Waiting jobs, served round-robin across users: each turn takes the oldest job of the next user
 * who may start one, so one user's ten requests do not starve everyone else. Pure bookkeeping; the
 * engine decides when a turn is taken.
 */
export class FairQueue {
  /** Users in turn order; a user is at the back once served. */
  readonly #users: string[] = [];
  readonly #jobs = new Map<string, string[]>();
  readonly #owner = new Map<string, string>();

  get size(): number {
    return this.#owner.size;
  }

  has(jobId: string): boolean {
    return this.#owner.has(jobId);
  }

  /** How many jobs this user has waiting. */
  waitingFor(userId: string): number {
    return this.#jobs.get(userId)?.length ?? 0;
  }

  push(jobId: string, userId: string): void {
    if (this.#owner.has(jobId)) return;
    const list = this.#jobs.get(userId);
    if (list === undefined) {
      this.#jobs.set(userId, [jobId]);
      this.#users.push(userId);
    } else {
      list.push(jobId);
    }
    this.#owner.set(jobId, userId);
  }

  remove(jobId: string): boolean {
    const userId = this.#owner.get(jobId);
    if (userId === undefined) return false;
    this.#owner.delete(jobId);
    const list = this.#jobs.get(userId) ?? [];
    list.splice(list.indexOf(jobId), 1);
    if (list.length === 0) {
      this.#jobs.delete(userId);
      this.#users.splice(this.#users.indexOf(userId), 1);
    }
    return true;
  }

  /**
   * Takes the next job whose user may start one now, moving that user to the back of the turn
   * order; undefined when nobody eligible waits.
   */
  take(mayStart: (userId: string) => boolean): string | undefined {
    for (const userId of this.#users) {
      if (!mayStart(userId)) continue;
      const jobId = this.#jobs.get(userId)?.[0];
      if (jobId === undefined) continue;
      this.remove(jobId);
      if (this.#jobs.has(userId)) {
        // Still has jobs waiting: to the back of the line.
        this.#users.splice(this.#users.indexOf(userId), 1);
        this.#users.push(userId);
      }
      return jobId;
    }
    return undefined;
  }

  /**
   * Every waiting job's position (1 = next), in the order turns would be taken if every user could
   * start: first each user's oldest job in turn order, then each user's second, and so on.
   */
  positions(): Map<string, number> {
    const positions = new Map<string, number>();
    const lists = this.#users.map((userId) => this.#jobs.get(userId) ?? []);
    const longest = Math.max(0, ...lists.map((list) => list.length));
    for (let round = 0; round < longest; round++) {
      for (const list of lists) {
        const jobId = list[round];
        if (jobId !== undefined) positions.set(jobId, positions.size + 1);
      }
    }
    return positions;
  }
}
