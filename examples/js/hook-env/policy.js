// What `hook-env` adds to every task's environment: plain JavaScript, unit-tested with `node --test`.

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The variables to set, one per parameter (a later key wins), in first-seen order. */
export function variables(parameters) {
  const out = new Map();
  for (const { key, value } of parameters) {
    if (!NAME.test(key)) {
      throw new Error(`parameter '${key}' is not an environment variable name: use letters, digits and '_', not starting with a digit`);
    }
    out.set(key, value);
  }
  return [...out].map(([name, value]) => ({ name, value }));
}

/** The configured variables plus `MESETA_FRAMEWORK_ID`, read from the executor's handle. */
export function environment(configured, frameworkId) {
  return [...configured, { name: 'MESETA_FRAMEWORK_ID', value: frameworkId }];
}
