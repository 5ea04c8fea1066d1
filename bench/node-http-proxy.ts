/**
 * The node-http-proxy peer of the product brief's targets: the `http-proxy`
 * package as its README sets it up for a reverse proxy, in the same number
 * of cluster workers as Tollgate. It is given what it needs to be fast — a
 * keep-alive agent to the backend (without one it opens a connection per
 * request) — and nothing that costs: no access log, no header rewriting
 * beyond `xfwd`. So Tollgate's ratio against it is a lower bound.
 *
 * Usage: node dist/bench/node-http-proxy.js <port> <backend port> <workers>
 */
import http from 'node:http';
import httpProxy from 'http-proxy';
import { clustered } from './lib/clustered.js';

const [port, backendPort, workers] = process.argv.slice(2).map(Number);

clustered(workers, () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent, xfwd: true });
  proxy.on('error', (_err, _req, res) => {
    if (res instanceof http.ServerResponse) {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    } else res.destroy();
  });
  http.createServer((req, res) => proxy.web(req, res)).listen(port, '127.0.0.1');
});
