import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { PoolSchema } from '../../config/schema.js';
import { startBackend } from './test-support.js';
import { Upstream } from './upstream.js';

const settings = PoolSchema.parse({ servers: [{ address: '192.0.2.1:80' }] });
const made: Upstream[] = [];
const upstream = (server: ConstructorParameters<typeof Upstream>[0]) => {
  const u = new Upstream(server, settings);
  made.push(u);
  return u;
};
after(() => Promise.all(made.map((u) => u.dispatcher.close())));

test('address, host, port, origin and defaults', () => {
  const u = upstream({ address: '10.1.2.3:8080' });
  assert.equal(u.address, '10.1.2.3:8080');
  assert.equal(u.host, '10.1.2.3');
  assert.equal(u.port, 8080);
  assert.equal(u.weight, 1);
  assert.equal(u.tls, false);
  assert.equal(u.origin, 'http://10.1.2.3:8080');
  assert.ok(u.dispatcher instanceof Pool);

  const v6 = upstream({ address: '[::1]:8443', weight: 5, tls: true });
  assert.equal(v6.host, '::1');
  assert.equal(v6.port, 8443);
  assert.equal(v6.weight, 5);
  assert.equal(v6.origin, 'https://[::1]:8443');

  assert.equal(upstream({ address: 'api.internal:80' }).origin, 'http://api.internal:80');
});

test('bad addresses and weights are refused', () => {
  assert.throws(() => new Upstream({ address: 'no-port' }, settings), /invalid upstream address/);
  assert.throws(() => new Upstream({ address: '10.0.0.1:99999' }, settings), /invalid upstream address/);
  assert.throws(() => new Upstream({ address: '10.0.0.1:80', weight: 0 }, settings), /invalid weight/);
  assert.throws(() => new Upstream({ address: '10.0.0.1:80', weight: 1.5 }, settings), /invalid weight/);
});

test('acquire/release count requests in flight and never go negative', () => {
  const u = upstream({ address: '10.0.0.2:80' });
  u.acquire();
  u.acquire();
  assert.equal(u.outstanding, 2);
  u.release();
  u.release();
  u.release();
  assert.equal(u.outstanding, 0);
  assert.equal(u.requests, 2);
});

test('availability and state: unhealthy wins over ejected, ejection ends by the clock', () => {
  const u = upstream({ address: '10.0.0.3:80' });
  const now = 1_000_000;
  assert.ok(u.isAvailable(now));
  assert.equal(u.state(now), 'healthy');
  u.ejectedUntil = now + 100;
  assert.ok(!u.isAvailable(now));
  assert.equal(u.state(now), 'ejected');
  assert.ok(u.isAvailable(now + 100), 'available again at ejectedUntil');
  assert.equal(u.state(now + 100), 'healthy');
  u.healthy = false;
  assert.equal(u.state(now), 'unhealthy');
  assert.equal(u.state(now + 100), 'unhealthy');
  assert.ok(!u.isAvailable(now + 100));
});

test('keepalive_timeout 0 turns connection reuse off instead of breaking the first request', async () => {
  const b = await startBackend();
  const u = new Upstream({ address: b.address }, PoolSchema.parse({ servers: [{ address: b.address }], keepalive_timeout: 0 }));
  try {
    for (let i = 0; i < 2; i++) {
      const res = await u.dispatcher.request({ path: '/', method: 'GET' });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    assert.equal(b.requests[1].headers.connection, 'close');
  } finally {
    await u.dispatcher.close();
    await b.stop();
  }
});
