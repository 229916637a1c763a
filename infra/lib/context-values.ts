// The one reader of CDK context values, which config.ts and engine-config.ts both read their
// settings through: a value given as `-c key=value` always arrives as a string, one from cdk.json
// may be a string, number or boolean, and an empty one counts as not given. A value that is
// wrong stops `cdk synth` with a ConfigError naming the key.
// https://docs.aws.amazon.com/cdk/v2/guide/context.html

export class ConfigError extends Error {
  constructor(key: string, value: unknown, reason: string) {
    super(`context ${key}=${JSON.stringify(value)}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** Reads one context value; `-c key=value` always arrives as a string. */
export type Lookup = (key: string) => unknown;

/** Whether `key` has a value at all (undefined, null and '' are none). */
export function given(get: Lookup, key: string): boolean {
  const v = get(key);
  return v !== undefined && v !== null && v !== '';
}

/** `key`'s value as trimmed text; undefined when it has none. */
export function optional(get: Lookup, key: string): string | undefined {
  const v = get(key);
  if (!given(get, key)) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new ConfigError(key, v, 'expected a string');
  }
  return String(v).trim();
}

/** `key`'s value as trimmed text, `fallback` when it has none. */
export function text(get: Lookup, key: string, fallback: string): string {
  return optional(get, key) ?? fallback;
}

/** `key`'s value, one of `allowed`. */
export function oneOf<T extends string>(get: Lookup, key: string, allowed: readonly T[], fallback: T): T {
  const v = text(get, key, fallback);
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(key, v, `expected one of ${allowed.join(', ')}`);
  }
  return v as T;
}

/** `key`'s value, a whole number from `min` to `max`. */
export function integer(get: Lookup, key: string, fallback: number, min: number, max: number): number {
  const raw = text(get, key, String(fallback));
  if (!/^\d+$/.test(raw)) throw new ConfigError(key, raw, 'expected a whole number');
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(key, raw, `expected ${min} to ${max}`);
  return n;
}

/** `key`'s value, true or false (any case). */
export function flag(get: Lookup, key: string, fallback: boolean): boolean {
  const raw = text(get, key, String(fallback)).toLowerCase();
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(key, raw, 'expected true or false');
}
