/**
 * The dashboard's built files (dist/ui, made by `npm run build` from ui/),
 * served by the admin listener: index.html for `/`, hashed assets under
 * /assets/ with long caching. Files are read once and kept in memory (a few
 * hundred kB); nothing outside the directory can be reached.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** dist/src/admin → dist/ui */
export const DASHBOARD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

interface File {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
}

export class StaticFiles {
  private files: Map<string, File> | null = null;

  constructor(private readonly dir: string) {}

  private load(): Map<string, File> {
    if (this.files) return this.files;
    const files = new Map<string, File>();
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const full = path.join(d, name);
        if (statSync(full).isDirectory()) walk(full);
        else {
          const body = readFileSync(full);
          const type = TYPES[path.extname(name)] ?? 'application/octet-stream';
          const gz = /^(text|application\/json|image\/svg)/.test(type) && body.length > 1024 ? gzipSync(body) : null;
          files.set('/' + path.relative(this.dir, full).split(path.sep).join('/'), { body, gzip: gz, type });
        }
      }
    };
    if (existsSync(this.dir)) walk(this.dir);
    this.files = files;
    return files;
  }

  /** Serves `/` or a file under /assets/; false when there is no such file (or the dashboard is not built). */
  async serve(p: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const files = this.load();
    const key = p === '/' ? '/index.html' : p;
    const f = files.get(key);
    if (!f) return false;
    const gzipOk = f.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzipOk ? f.gzip! : f.body;
    res.writeHead(200, {
      'content-type': f.type,
      'content-length': body.length,
      // Asset names carry a content hash: cache them for good; index.html must be revalidated.
      'cache-control': key === '/index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      ...(key === '/index.html' ? { 'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'", 'referrer-policy': 'no-referrer' } : {}),
      ...(gzipOk ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : { vary: 'accept-encoding' }),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
