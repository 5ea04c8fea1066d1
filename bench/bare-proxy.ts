/**
 * The platform ceiling for the benchmark: the least a Node.js proxy can do —
 * undici keep-alive pool, no routing, no headers rewritten, no metrics, no
 * audit — in the same number of cluster workers as Tollgate. Tollgate's
 * figures read best against this and against NGINX.
 *
 * Usage: node dist/bench/bare-proxy.js <port> <backend port> <workers>
 */
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { clustered } from './lib/clustered.js';

const [port, backendPort, workers] = process.argv.slice(2).map(Number);

clustered(workers, () => {
  const pool = new Pool(`http://127.0.0.1:${backendPort}`, { connections: 256 });
  http
    .createServer((req, res) => {
      const handler: Dispatcher.DispatchHandler = {
        // undici treats a handler without onRequestStart as the legacy API.
        onRequestStart() {},
        onResponseStart(_c, status, headers) {
          res.writeHead(status, headers);
        },
        onResponseData(_c, chunk) {
          res.write(chunk);
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        },
      };
      pool.dispatch({ path: req.url ?? '/', method: (req.method ?? 'GET'), headers: req.headers as Record<string, string>, body: null }, handler);
    })
    .listen(port, '127.0.0.1');
});
