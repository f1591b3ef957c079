import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Policy } from './policy.js';

function cluster() {
  const p = new Policy();
  p.initialize([{ name: 'cpus', revocable: false }, { name: 'mem', revocable: false }], [[0.01, 32]], []);
  p.addAgent(0, [4, 4096], []);
  p.addAgent(1, [4, 4096], []);
  p.addFramework(0, [0], false, true, [], []);
  p.addFramework(1, [0], false, true, [], []);
  return p;
}

test('each agent goes whole to the lowest dominant share', () => {
  const offers = cluster().allocate(0);
  assert.deepEqual(offers.map((o) => [o.framework, o.agent, o.amounts]), [[0, 0, [4, 4096]], [1, 1, [4, 4096]]]);
});

test('offered resources are not offered again until recovered', () => {
  const p = cluster();
  p.allocate(0);
  assert.deepEqual(p.allocate(1000), []);
  p.recover(0, 0, 0, [4, 4096], undefined, 1000);
  assert.equal(p.allocate(2000).length, 1);
});

test('a decline filter holds until it expires', () => {
  const p = cluster();
  p.removeFramework(1);
  p.allocate(0);
  p.recover(0, 0, 0, [4, 4096], 1, 0);
  p.recover(0, 1, 0, [4, 4096], 1, 0);
  assert.deepEqual(p.allocate(500), []);
  assert.equal(p.allocate(1000).length, 2);
});

test('suppressed roles get nothing until revived', () => {
  const p = cluster();
  p.removeFramework(1);
  p.suppress(0, []);
  assert.deepEqual(p.allocate(0), []);
  p.revive(0, []);
  assert.equal(p.allocate(0).length, 2);
});
