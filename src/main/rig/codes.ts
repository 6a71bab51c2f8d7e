/** Event codes 1..65535 in a cycle; a code still open on an earlier presentation is skipped. */
export class EventCodeAllocator {
  private last = 0;
  private readonly open = new Set<number>();

  constructor(private readonly maxCode = 65535) {}

  next(): number {
    if (this.open.size >= this.maxCode)
      throw new Error(`EventCodeAllocator: all ${this.maxCode} codes are open; no code is free`);
    do {
      this.last = this.last >= this.maxCode ? 1 : this.last + 1;
    } while (this.open.has(this.last));
    this.open.add(this.last);
    return this.last;
  }

  release(code: number): void {
    this.open.delete(code);
  }

  isOpen(code: number): boolean {
    return this.open.has(code);
  }
}
