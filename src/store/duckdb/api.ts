/**
 * @duckdb/node-api, loaded with require. The package is CommonJS; imported as
 * ESM, Node first lexes each of its files for named exports, which doubles
 * its load time (141 ms against 69 ms on the reference machine). That is paid
 * by every command that opens the store (`tollgate ingest` of a small file
 * took 0.49 s) and by the store writer thread at each start.
 */
import { createRequire } from 'node:module';
import type * as Api from '@duckdb/node-api';

const api = createRequire(import.meta.url)('@duckdb/node-api') as typeof Api;

export const DuckDBInstance = api.DuckDBInstance;
export type DuckDBInstance = Api.DuckDBInstance;
export const DuckDBTimestampValue = api.DuckDBTimestampValue;
export type DuckDBTimestampValue = Api.DuckDBTimestampValue;
export type { DuckDBAppender, DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
