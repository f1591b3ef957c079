import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels } from './policy.js';

test('a later key wins, in first-seen order', () => {
  assert.deepEqual(labels([{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'a', value: '3' }]),
    [{ key: 'a', value: '3' }, { key: 'b', value: '2' }]);
});

test('an empty key is refused', () => {
  assert.throws(() => labels([{ key: '', value: 'x' }]), /empty key/);
});
