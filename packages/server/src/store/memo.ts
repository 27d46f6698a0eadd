/**
 * Values read from the database, kept while the database is unchanged. Each read names the database's version
 * (`Store.version`); a version unlike the one the values were read at empties the memo first, so nothing read
 * before a change, by this process or another, is ever answered after it. Bounded: beyond `size` values the oldest
 * goes first.
 */
export class Memo<V> {
  #version: string | undefined;
  readonly #values = new Map<string, V>();

  constructor(private readonly size: number) {}

  get(version: string, key: string): V | undefined {
    if (version !== this.#version) {
      this.#values.clear();
      this.#version = version;
    }
    return this.#values.get(key);
  }

  /** Keeps a value read at `version`, the version that `get` was just asked with. */
  set(version: string, key: string, value: V): void {
    if (version !== this.#version) return;
    if (this.#values.size >= this.size) this.#values.delete(this.#values.keys().next().value as string);
    this.#values.set(key, value);
  }
}
