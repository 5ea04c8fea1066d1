import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalLimiterStore } from './local.js';

const T0 = 1_700_000_000_000;
const oneAtATime = { emissionMs: 1000, burst: 0 };

describe('LocalLimiterStore', () => {
  test('keys are limited independently', () => {
    const s = new LocalLimiterStore(10);
    assert.equal(s.check('a', oneAtATime, T0).allowed, true);
    assert.equal(s.check('a', oneAtATime, T0).allowed, false);
    assert.equal(s.check('b', oneAtATime, T0).allowed, true);
    assert.equal(s.check('a', oneAtATime, T0 + 1000).allowed, true);
    assert.equal(s.size, 2);
  });

  test('bounded by maxKeys: the least recently used live key is evicted and counted', () => {
    let notified = 0;
    const s = new LocalLimiterStore(3, () => notified++);
    s.check('a', oneAtATime, T0);
    s.check('b', oneAtATime, T0);
    s.check('c', oneAtATime, T0);
    // Touch "a" (refused, still a use): "b" becomes the least recently used.
    assert.equal(s.check('a', oneAtATime, T0 + 1).allowed, false);
    s.check('d', oneAtATime, T0 + 2);
    assert.equal(s.size, 3);
    assert.equal(s.evictions, 1);
    assert.equal(notified, 1);
    // "a", "c" and "d" kept their debt; "b" was forgotten and is rested again.
    assert.equal(s.check('a', oneAtATime, T0 + 3).allowed, false);
    assert.equal(s.check('c', oneAtATime, T0 + 3).allowed, false);
    assert.equal(s.check('d', oneAtATime, T0 + 3).allowed, false);
    assert.equal(s.check('b', oneAtATime, T0 + 3).allowed, true);
    // Taking "b" back evicted the then least recently used live key, "a".
    assert.equal(s.evictions, 2);
    assert.equal(s.check('a', oneAtATime, T0 + 4).allowed, true);
    assert.equal(s.evictions, 3);
  });

  test('a flood of keys never grows the store past maxKeys', () => {
    const s = new LocalLimiterStore(1000);
    for (let i = 0; i < 10_000; i++) s.check('ip-' + i, oneAtATime, T0);
    assert.equal(s.size, 1000);
    assert.equal(s.evictions, 9000);
    // The newest 1000 are the ones kept.
    assert.equal(s.check('ip-9999', oneAtATime, T0).allowed, false);
    assert.equal(s.check('ip-0', oneAtATime, T0).allowed, true);
  });

  test('expired entries are dropped lazily and are not counted as evictions', () => {
    const s = new LocalLimiterStore(3);
    s.check('a', oneAtATime, T0);
    s.check('b', oneAtATime, T0);
    s.check('c', oneAtATime, T0);
    // At T0 + 1000 all three are rested: making room drops them without evicting anything live.
    s.check('d', oneAtATime, T0 + 1000);
    assert.equal(s.evictions, 0);
    assert.equal(s.size, 1);
    // An expired entry that is looked up reads as rested.
    s.check('e', oneAtATime, T0 + 1000);
    assert.equal(s.check('d', oneAtATime, T0 + 2000).allowed, true);
  });

  test('clear forgets everything', () => {
    const s = new LocalLimiterStore(5);
    s.check('a', oneAtATime, T0);
    s.clear();
    assert.equal(s.size, 0);
    assert.equal(s.check('a', oneAtATime, T0).allowed, true);
  });

  test('rejects a bound below 1', () => {
    assert.throws(() => new LocalLimiterStore(0), RangeError);
  });
});
