#!/usr/bin/env bash
# Installs what `npm run bench` needs on Debian 12: NGINX (backend and peer),
# HAProxy and Caddy (peers), wrk (load generator) and GoAccess (the ingest benchmark's
# peer). Idempotent; see install-test-deps.sh.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-test-deps.sh" nginx haproxy caddy wrk goaccess
