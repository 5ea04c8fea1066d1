/**
 * Talking to the admin API: the token lives in sessionStorage (or
 * localStorage when "remember" was ticked) and travels only in the
 * Authorization header — never in a URL, so it cannot leak through history,
 * logs or shared links. Server-sent events are read with fetch (EventSource
 * cannot send headers).
 */
const KEY = 'tollgate.admin.token';

export function getToken(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function setToken(token: string, remember: boolean): void {
  signOut();
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** Called when the API says the token is no longer good: the app goes back to the sign-in page. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = getToken();
  return { ...(t ? { authorization: `Bearer ${t}` } : {}), ...extra };
}

async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | null = null;
  try {
    const j = (await res.json()) as { error?: { message?: string; code?: string } };
    message = j.error?.message ?? message;
    code = j.error?.code ?? null;
  } catch {
    /* not JSON */
  }
  if (res.status === 401) onUnauthorized();
  return new ApiError(res.status, message, code);
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: headers(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
  });
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Checks a token before keeping it. */
export async function tryToken(token: string): Promise<boolean> {
  const res = await fetch('/api/v1/events?limit=1', { headers: { authorization: `Bearer ${token}` } });
  return res.ok;
}

/** Downloads an API answer as a file (export): the token goes in the header, so a plain link cannot do it. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Reads a server-sent event stream; resolves when it ends or `signal` aborts. */
export async function stream(path: string, onEvent: (type: string, data: string) => void, signal: AbortSignal, onOpen: () => void = () => {}): Promise<void> {
  const res = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal });
  if (!res.ok || !res.body) throw await failure(res);
  // The server subscribes before it answers: from here on no event is missed.
  onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end: number;
      while ((end = buf.indexOf('\n\n')) !== -1) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let type = 'message';
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) type = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) onEvent(type, data.join('\n'));
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
}
