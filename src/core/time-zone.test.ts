import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZoneOffsets, isTimeZone, zoneOffsetsFor } from './time-zone.js';

const local = (iso: string): number => Date.parse(iso + 'Z');
const utc = (ms: number): string => new Date(ms).toISOString();

test('wall-clock times of a named zone to UTC, across both daylight-saving transitions', () => {
  const berlin = new ZoneOffsets('Europe/Berlin');
  assert.equal(utc(berlin.toUtc(local('2026-01-15T12:00:00.250'))), '2026-01-15T11:00:00.250Z');
  assert.equal(utc(berlin.toUtc(local('2026-07-15T12:00:00'))), '2026-07-15T10:00:00.000Z');
  // 29 Mar 2026: 02:00 → 03:00 (02:30 does not exist: read with the winter offset).
  assert.equal(utc(berlin.toUtc(local('2026-03-29T01:59:59'))), '2026-03-29T00:59:59.000Z');
  assert.equal(utc(berlin.toUtc(local('2026-03-29T02:30:00'))), '2026-03-29T01:30:00.000Z');
  assert.equal(utc(berlin.toUtc(local('2026-03-29T03:00:00'))), '2026-03-29T01:00:00.000Z');
  // 25 Oct 2026: 03:00 → 02:00 (02:30 happens twice: the first one).
  assert.equal(utc(berlin.toUtc(local('2026-10-25T02:30:00'))), '2026-10-25T00:30:00.000Z');
  assert.equal(utc(berlin.toUtc(local('2026-10-25T03:00:00'))), '2026-10-25T02:00:00.000Z');
  const ny = new ZoneOffsets('America/New_York');
  assert.equal(utc(ny.toUtc(local('2026-11-24T10:00:00'))), '2026-11-24T15:00:00.000Z');
  const kathmandu = new ZoneOffsets('Asia/Kathmandu');
  assert.equal(utc(kathmandu.toUtc(local('2026-11-24T10:00:00'))), '2026-11-24T04:15:00.000Z');
  assert.equal(utc(new ZoneOffsets('UTC').toUtc(local('2026-11-24T10:00:00'))), '2026-11-24T10:00:00.000Z');
  assert.equal(isTimeZone('Europe/Berlin'), true);
  assert.equal(isTimeZone('Mars/Olympus_Mons'), false);
});

test('UTC, however named, needs no conversion: no offsets to look up', () => {
  for (const z of [undefined, 'UTC', 'Etc/UTC', 'GMT', 'etc/gmt']) assert.equal(zoneOffsetsFor(z), null, String(z));
  assert.equal(zoneOffsetsFor('Europe/Berlin')?.zone, 'Europe/Berlin');
});
