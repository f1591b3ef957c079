// What `hook-labels` adds to every task: plain JavaScript, unit-tested with `node --test`.

/** One label per distinct parameter key, in first-seen order, the last value winning. */
export function labels(parameters) {
  const out = new Map();
  for (const { key, value } of parameters) {
    if (key === '') {
      throw new Error('a parameter has an empty key; label keys must not be empty');
    }
    out.set(key, value);
  }
  return [...out].map(([key, value]) => ({ key, value }));
}
