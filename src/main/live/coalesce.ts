/**
 * Queues a running session's events between two pushes to the live view. `push` is all the session's code path pays:
 * O(1), no I/O, no timers. Progress and link reports that a newer one of the same kind supersedes within the batch are
 * dropped (a page needs the latest); counts, faults, pauses and proposals are all kept, in order, up to a bound.
 */
import type { LiveEvent } from "../api/live-contract.js";

/** Kinds whose newest report replaces older ones still in the queue. */
const latestOnly: ReadonlySet<LiveEvent["kind"]> = new Set(["presented", "link"]);

export class EventCoalescer {
  private queue: (LiveEvent | undefined)[] = [];
  private readonly slotOf = new Map<LiveEvent["kind"], number>();
  private kept = 0;
  private droppedSinceDrain = 0;

  /** `maxQueued`: beyond this many events between drains, new ones are counted and dropped (the store has them). */
  constructor(private readonly maxQueued = 5_000) {}

  get size(): number {
    return this.kept;
  }

  push(event: LiveEvent): void {
    if (latestOnly.has(event.kind)) {
      const slot = this.slotOf.get(event.kind);
      if (slot !== undefined) {
        this.queue[slot] = undefined;
        this.kept--;
      }
      this.slotOf.set(event.kind, this.queue.length);
    } else if (this.kept >= this.maxQueued) {
      this.droppedSinceDrain++;
      return;
    }
    this.queue.push(event);
    this.kept++;
  }

  /** The events since the last drain, oldest first, and how many were dropped for the bound. */
  drain(): { events: LiveEvent[]; dropped: number } {
    const events = this.queue.filter((e): e is LiveEvent => e !== undefined);
    const dropped = this.droppedSinceDrain;
    this.queue = [];
    this.slotOf.clear();
    this.kept = 0;
    this.droppedSinceDrain = 0;
    return { events, dropped };
  }
}
