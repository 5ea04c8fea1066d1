/**
 * Time windows for policy rules and detection schedules: days of the week and a local time range in
 * an IANA time zone, so "Mon-Fri 08:00-18:00 Europe/Berlin" stays right
 * across daylight-saving changes. A range that ends before it starts wraps
 * past midnight and belongs to the day it started on.
 */
/** Days (`mon`, `mon-fri`, `fri-mon`), hours `HH:MM-HH:MM`, an IANA zone. */
export interface TimeWindowSpec {
  days: readonly string[];
  hours: string;
  tz: string;
}

const DAY_INDEX: Record<string, number> = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 };
const SHORT_DAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

export interface LocalTime {
  /** 0 = Monday … 6 = Sunday */
  day: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const minuteCache = new Map<string, { minute: number; local: LocalTime }>();

/** Day of week and minute of day at `ms` in `tz`; memoized per zone and minute (requests arrive many per minute). */
export function localTime(ms: number, tz: string): LocalTime {
  const minute = Math.floor(ms / 60_000);
  const hit = minuteCache.get(tz);
  if (hit && hit.minute === minute) return hit.local;
  let fmt = formatters.get(tz);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(tz, fmt);
  }
  let day = 0;
  let hour = 0;
  let min = 0;
  for (const part of fmt.formatToParts(new Date(minute * 60_000))) {
    if (part.type === 'weekday') day = SHORT_DAY[part.value] ?? 0;
    else if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'minute') min = Number(part.value);
  }
  const local = { day, minutes: hour * 60 + min };
  minuteCache.set(tz, { minute, local });
  return local;
}

export function parseDays(days: readonly string[]): boolean[] {
  const on = new Array<boolean>(7).fill(false);
  for (const d of days) {
    const [a, b] = d.split('-');
    const from = DAY_INDEX[a];
    const to = b === undefined ? from : DAY_INDEX[b];
    // "fri-mon" wraps over the weekend.
    for (let i = from; ; i = (i + 1) % 7) {
      on[i] = true;
      if (i === to) break;
    }
  }
  return on;
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** Returns a function telling whether an instant lies inside the window. */
export function compileTimeWindow(w: TimeWindowSpec): (ms: number) => boolean {
  const days = parseDays(w.days);
  const [startText, endText] = w.hours.split('-');
  const start = toMinutes(startText);
  const end = toMinutes(endText);
  const tz = w.tz;
  if (start === end) return (ms) => days[localTime(ms, tz).day];
  if (start < end) {
    return (ms) => {
      const t = localTime(ms, tz);
      return days[t.day] && t.minutes >= start && t.minutes < end;
    };
  }
  return (ms) => {
    const t = localTime(ms, tz);
    if (t.minutes >= start) return days[t.day];
    return t.minutes < end && days[(t.day + 6) % 7];
  };
}
