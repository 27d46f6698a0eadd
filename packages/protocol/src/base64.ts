// The standard alphabet with padding, as Python's base64.b64encode writes it; a plain character class rather
// than a repeated group keeps the test linear and safe on megabytes of input.
const ALPHABET_THEN_PADDING = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether `s` is standard, padded base64 (the only form the official client sends). */
export function isBase64(s: string): boolean {
  return s.length % 4 === 0 && ALPHABET_THEN_PADDING.test(s);
}

/** The standard, padded base64 of `text`'s UTF-8 bytes. */
export function toBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
