/** What the query language needs to know of an entity type's attributes to check, evaluate and compile queries. */

export type AttributeType = 'string' | 'number' | 'boolean' | 'date';

export interface Attribute {
  readonly type: AttributeType;
  /** The SQL column; by default the attribute's name with each '.' replaced by '_'. */
  readonly column?: string;
  /**
   * A column that holds the folded (lowercased) text, so that SQL compares text without folding every row and
   * can use a plain index. It may name `column` itself when the values are stored folded already.
   */
  readonly folded?: string;
  /** The attribute is never null, so its negated tests need no null check. */
  readonly required?: boolean;
}

/** Attributes by lowercased name (dotted paths such as `job.id` included). */
export type Schema = Readonly<Record<string, Attribute>>;

export function columnOf(name: string, attribute: Attribute): string {
  return attribute.column ?? name.replaceAll('.', '_');
}

/** Names in `candidates` close enough to `name` to be what was meant, closest first. */
export function closeMatches(name: string, candidates: Iterable<string>): string[] {
  const limit = Math.max(1, Math.floor(name.length / 3));
  return [...candidates]
    .map((candidate) => ({ candidate, distance: editDistance(name, candidate) }))
    .filter(({ distance }) => distance <= limit)
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate))
    .slice(0, 3)
    .map(({ candidate }) => candidate);
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const above = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
