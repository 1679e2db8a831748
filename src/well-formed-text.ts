// A UTF-16 surrogate without its partner: not a character, and not encodable as UTF-8.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `text` with every lone surrogate replaced by U+FFFD, like `String.prototype.toWellFormed`. Text from
 * outside (chat payloads, model output) may hold one (`"\ud800"` is valid JSON); Redis's Lua JSON decoder
 * and UTF-8 encoders refuse or mangle it, so inbound text is made well-formed where it enters.
 */
export function toWellFormed(text: string): string {
  return text.replace(loneSurrogate, '\uFFFD');
}

/** Every string inside `value` (objects and arrays walked) made well-formed; other values as they are. */
export function wellFormedDeep<T>(value: T): T {
  if (typeof value === 'string') return toWellFormed(value) as T;
  if (Array.isArray(value)) return value.map((item) => wellFormedDeep(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [toWellFormed(key), wellFormedDeep(item)]),
    ) as T;
  }
  return value;
}
