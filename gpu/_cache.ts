/**
 * A cache keyed by a tuple of values (objects by identity, numbers and booleans by value), stored as a trie of
 * Maps, so pipeline and bind-group caches never assemble string keys by hand.
 *
 * @module
 */

interface Node<V> {
  children: Map<unknown, Node<V>>;
  value?: V;
  has: boolean;
}

/**
 * Maps a key tuple to a value built once by `make`.
 *
 * @example
 * ```ts
 * import { TupleCache } from "./_cache.ts";
 * const cache = new TupleCache<number>();
 * const owner = {};
 * let built = 0;
 * cache.get([owner, 3, true], () => ++built);
 * cache.get([owner, 3, true], () => ++built);
 * if (built !== 1 || cache.size !== 1) throw new Error("built twice");
 * ```
 */
export class TupleCache<V> {
  #root: Node<V> = { children: new Map(), has: false };
  #size = 0;

  /** Number of cached values. */
  get size(): number {
    return this.#size;
  }

  /**
   * The value for `key`, made by `make()` the first time the key is seen.
   *
   * @param key Tuple of objects (compared by identity) and primitives (by value).
   * @param make Builds the value on a miss.
   * @returns The cached value.
   */
  get(key: readonly unknown[], make: () => V): V {
    let node = this.#root;
    for (const part of key) {
      let next = node.children.get(part);
      if (!next) {
        next = { children: new Map(), has: false };
        node.children.set(part, next);
      }
      node = next;
    }
    if (!node.has) {
      node.value = make();
      node.has = true;
      this.#size++;
    }
    return node.value as V;
  }
}
