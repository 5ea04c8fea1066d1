#!/usr/bin/env bash
# Installs the system servers that Tollgate's tests (and benchmarks) start
# themselves, on Debian 12. Idempotent: packages already installed are skipped,
# and when nothing is missing apt is not touched at all, so reruns take no time.
#
#   bash scripts/install-test-deps.sh              # everything the tests need
#   bash scripts/install-test-deps.sh nginx wrk    # only these packages
#
# Run as root (CI) or as a user with sudo. Tests start every server themselves on
# loopback with a free port and a temporary directory; the system services that
# some packages ship are stopped and disabled right after installation so that,
# e.g., a system NGINX never sits on port 80.
set -euo pipefail

# ---------------------------------------------------------------------------
# What the tests need. Add a package here (and, if its Debian package ships a
# service that could start, its service name in SERVICES below).
# ---------------------------------------------------------------------------
PACKAGES=(
  nginx      # log source for ingest tests; proxy peer and backend in benchmarks
  haproxy    # log source for ingest tests; proxy peer in benchmarks
  wrk        # load generator for benchmarks
  # postgresql               # central store        (initdb/pg_ctl in /usr/lib/postgresql/15/bin)
  # redis-server             # shared rate limits and blocks
  # nats-server              # event transport between nodes (JetStream)
  # rsyslog                  # syslog sink and syslog input
  # prometheus-alertmanager  # alert delivery
  # chromium                 # dashboard end-to-end tests (playwright-core, executablePath /usr/bin/chromium)
)

# package -> system service(s) to stop and disable after a fresh install.
# rsyslog is deliberately absent: tests run their own instance on a free port
# and the machine's system logger must keep running.
declare -A SERVICES=(
  [nginx]="nginx"
  [haproxy]="haproxy"
  [postgresql]="postgresql"
  [redis-server]="redis-server"
  [nats-server]="nats-server"
  [prometheus-alertmanager]="prometheus-alertmanager"
)

# Default PID files of the Debian packages, for machines without systemd where
# an init script may have started the daemon anyway.
declare -A PIDFILES=(
  [nginx]="/run/nginx.pid"
  [haproxy]="/run/haproxy.pid"
)

log() { printf '[install-test-deps] %s\n' "$*"; }
die() { printf '[install-test-deps] error: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "must run as root, or as a user with sudo (sudo is not installed)"
  fi
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian 12 (install the packages by hand: ${PACKAGES[*]})"

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# Stops (and, with systemd, disables) the system service of a package we just
# installed, and makes sure no daemon is left from its default PID file.
stop_system_service() {
  local pkg=$1 svc pidfile pid
  for svc in ${SERVICES[$pkg]:-}; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
  pidfile=${PIDFILES[$pkg]:-}
  if [ -n "$pidfile" ] && [ -s "$pidfile" ]; then
    pid=$(tr -dc '0-9' <"$pidfile" || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      log "stopping the system $pkg (pid $pid) that the package started"
      "${SUDO[@]}" kill -TERM "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && "${SUDO[@]}" kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}

main() {
  local wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${PACKAGES[@]}")

  local missing=() p
  for p in "${wanted[@]}"; do
    if is_installed "$p"; then
      log "$p: already installed"
    else
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "nothing to install"
    return 0
  fi

  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from starting services while installing: policy-rc.d
  # exit 101 means "action forbidden" to invoke-rc.d and deb-systemd-invoke.
  # Only added (and removed again) when the machine has none of its own.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    added_policy=1
    trap '"${SUDO[@]}" rm -f '"$policy" EXIT
  fi

  local apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  log "apt-get update"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -q
  log "apt-get install ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"

  for p in "${missing[@]}"; do
    is_installed "$p" || die "$p did not install"
    stop_system_service "$p"
  done
  if [ "$added_policy" = 1 ]; then
    "${SUDO[@]}" rm -f "$policy"
    trap - EXIT
  fi
  log "installed: ${missing[*]}"
}

main "$@"
