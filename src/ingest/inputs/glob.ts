/**
 * A small glob matcher for `tollgate ingest <paths...>`. Written here because
 * `fs.promises.glob` does not exist on Node 20 (it is experimental from 22),
 * and quoting a pattern so that the shell leaves it alone must still work:
 *
 *   *      any characters within one path segment
 *   ?      exactly one character within a segment
 *   [abc]  one of the listed characters; ranges [a-z]; negation [!a] or [^a]
 *   **     as a whole segment: zero or more directories
 *
 * As in a shell, `*`, `?` and `[...]` do not match a leading `.` (hidden
 * entries) unless the pattern segment itself starts with `.`, and `**` does
 * not descend into hidden directories. Symbolic links to directories are not
 * descended by `**` (no loops). `/` is the separator (POSIX).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Whether `s` contains glob syntax. */
export function hasGlobMagic(s: string): boolean {
  return /[*?[]/.test(s);
}

function escapeRegExp(c: string): string {
  // Only syntax characters may be escaped in a `u` RegExp.
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? '\\' + c : c;
}

/** Compiles one path segment (no `/`) to an anchored RegExp. Unclosed `[` is a literal. */
export function segmentRegExp(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') {
      while (seg[i + 1] === '*') i++;
      re += '.*';
    } else if (c === '?') {
      re += '.';
    } else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      let neg = false;
      if (body[0] === '!' || body[0] === '^') {
        neg = true;
        body = body.slice(1);
      }
      let cls = '';
      for (let j = 0; j < body.length; j++) {
        const b = body[j];
        // A `-` between two characters is a range; anywhere else it is literal.
        if (b === '-' && j > 0 && j < body.length - 1) cls += '-';
        else cls += b === '\\' || b === ']' || b === '^' || b === '-' ? '\\' + b : b;
      }
      re += (neg ? '[^' : '[') + cls + ']';
      i = close;
    } else {
      re += escapeRegExp(c);
    }
  }
  return new RegExp(re + '$', 'u');
}

/** Whether `name` (one segment) matches the pattern segment, with the hidden-file rule. */
export function matchSegment(pattern: string, name: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.')) return false;
  return segmentRegExp(pattern).test(name);
}

interface Dirent {
  name: string;
  isDir: boolean;
}

async function list(dir: string): Promise<Dirent[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return [];
    throw err;
  }
  const out: Dirent[] = [];
  for (const e of entries) out.push({ name: e.name, isDir: e.isDirectory() });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Paths (files and directories) matching `pattern`, sorted, without
 * duplicates. Relative patterns give relative paths.
 */
export async function glob(pattern: string): Promise<string[]> {
  const absolute = pattern.startsWith('/');
  const segs = pattern.split('/').filter((s, i) => s !== '' && !(s === '.' && i > 0));
  // The literal prefix is the directory the walk starts from.
  let first = 0;
  while (first < segs.length && !hasGlobMagic(segs[first])) first++;
  const baseSegs = segs.slice(0, first);
  const base = absolute ? '/' + baseSegs.join('/') : baseSegs.length ? baseSegs.join('/') : '';
  const rest = segs.slice(first);
  const found = new Set<string>();
  const regexps = new Map<string, RegExp>();
  const re = (seg: string): RegExp => {
    let r = regexps.get(seg);
    if (!r) regexps.set(seg, (r = segmentRegExp(seg)));
    return r;
  };
  const join = (dir: string, name: string): string => (dir === '' ? name : dir === '/' ? '/' + name : dir + '/' + name);

  const walk = async (dir: string, i: number): Promise<void> => {
    if (i === rest.length) {
      if (dir !== '' && (await exists(dir))) found.add(dir);
      return;
    }
    const seg = rest[i];
    if (seg === '**') {
      await walk(dir, i + 1);
      for (const e of await list(dir === '' ? '.' : dir)) {
        if (e.isDir && !e.name.startsWith('.')) await walk(join(dir, e.name), i);
      }
      return;
    }
    if (!hasGlobMagic(seg)) {
      const p = join(dir, seg);
      if (i === rest.length - 1) {
        if (await exists(p)) found.add(p);
      } else if (await isDirectory(p)) {
        await walk(p, i + 1);
      }
      return;
    }
    const r = re(seg);
    const hiddenOk = seg.startsWith('.');
    for (const e of await list(dir === '' ? '.' : dir)) {
      if (e.name.startsWith('.') && !hiddenOk) continue;
      if (!r.test(e.name)) continue;
      const p = join(dir, e.name);
      if (i === rest.length - 1) found.add(p);
      else if (e.isDir || (await isDirectory(p))) await walk(p, i + 1);
    }
  };

  if (rest.length === 0) return (await exists(pattern)) ? [pattern] : [];
  await walk(base, 0);
  return [...found].sort();
}

/** Regular files inside `dir`, recursively, sorted by path, skipping hidden files and directories. */
export async function walkDirectory(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile()) out.push(p);
      else if (e.isSymbolicLink()) {
        // A link to a file is followed; a link to a directory is not (no loops).
        try {
          if ((await stat(p)).isFile()) out.push(p);
        } catch {
          // A dangling link is not a file.
        }
      }
    }
  };
  await visit(dir);
  return out;
}
