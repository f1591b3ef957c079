import { test } from 'node:test';
import assert from 'node:assert/strict';
import { environment, variables } from './policy.js';

test('a later key wins, in first-seen order', () => {
  assert.deepEqual(variables([{ key: 'A', value: '1' }, { key: 'B', value: '2' }, { key: 'A', value: '3' }]),
    [{ name: 'A', value: '3' }, { name: 'B', value: '2' }]);
});

test('a bad name is refused with its name', () => {
  assert.throws(() => variables([{ key: '1X', value: 'v' }]), /'1X'/);
});

test('the framework id is added', () => {
  assert.deepEqual(environment([{ name: 'A', value: '1' }], 'fw-1'),
    [{ name: 'A', value: '1' }, { name: 'MESETA_FRAMEWORK_ID', value: 'fw-1' }]);
});
