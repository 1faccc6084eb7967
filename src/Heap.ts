/**
 * A binary min-heap of timers by `at`, with removal by handle: what lets one
 * clock (one sleeping fiber) stand for many deadlines. A timer knows its own
 * place (`index`, -1 when it is in no heap), so removing or moving one is
 * O(log n) with no search.
 */

/** One deadline in a heap. */
export interface Timer {
  /** When it is due: the heap's own time scale (wall clock or monotonic). */
  at: number
  /** Its place in the heap; -1 when it is in none. */
  index: number
}

export class Heap<T extends Timer> {
  private readonly items: Array<T> = []

  get size(): number {
    return this.items.length
  }
  /** The earliest timer, left in place. */
  peek(): T | undefined {
    return this.items[0]
  }
  push(item: T): void {
    item.index = this.items.length
    this.items.push(item)
    this.up(item.index)
  }
  /** Removes `item` if it is in the heap. */
  remove(item: T): void {
    const index = item.index
    if (index < 0) return
    const last = this.items.pop()!
    item.index = -1
    if (index === this.items.length) return
    this.items[index] = last
    last.index = index
    this.down(index)
    this.up(last.index)
  }
  /** Removes and returns the earliest timer if it is due at `now`. */
  popDue(now: number): T | undefined {
    const first = this.items[0]
    if (first === undefined || first.at > now) return undefined
    this.remove(first)
    return first
  }
  private swap(i: number, j: number): void {
    const a = this.items[i]!
    const b = this.items[j]!
    this.items[i] = b
    this.items[j] = a
    a.index = j
    b.index = i
  }
  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.items[parent]!.at <= this.items[i]!.at) return
      this.swap(i, parent)
      i = parent
    }
  }
  private down(i: number): void {
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < this.items.length && this.items[left]!.at < this.items[smallest]!.at) smallest = left
      if (right < this.items.length && this.items[right]!.at < this.items[smallest]!.at) smallest = right
      if (smallest === i) return
      this.swap(i, smallest)
      i = smallest
    }
  }
}
