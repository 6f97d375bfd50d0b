#!/bin/sh
# RCPT-time suppression lookups per second with 1,000,000 suppressed
# destinations, in SQLite and in PostgreSQL (a throw-away cluster on a
# loopback port, stopped and removed afterwards).  Usage:
#   bench/store_lookup.sh [ENTRIES [LOOKUPS]]
# Builds an optimised library in build-bench/ first.
#
# Measured on the 2-core shared development machine (other jobs running),
# 1,000,000 suppressed entries, 200,000 lookups (half hits):
#   sqlite    1 thread  42,000 lookups/s   2 threads 30,000 lookups/s
#   postgres  1 thread   2,900 lookups/s   2 threads  5,500 lookups/s
# PostgreSQL pays a loopback round trip per lookup (~0.3 ms here), so RCPT
# lookups belong on worker threads, one store handle each.
set -eu
cd "$(dirname "$0")/.."
ENTRIES=${1:-1000000}
LOOKUPS=${2:-200000}
PGBIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-bench -j2 --target cleanbox >/dev/null
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc $(pkg-config --cflags libpq) bench/store_lookup.c build-bench/libcleanbox.a \
    $(pkg-config --libs libevent libevent_openssl libevent_pthreads libcares \
      gmime-3.0 inih jansson openssl sqlite3 libpq) -lm -lpthread \
    -o build-bench/store_lookup

TMP=$(mktemp -d /tmp/store_bench.XXXXXX)
AS=""
if [ "$(id -u)" -eq 0 ]; then
	chown postgres "$TMP"
	AS="runuser -u postgres --"
fi
cleanup() {
	$AS "$PGBIN/pg_ctl" -D "$TMP/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for threads in 1 2; do
	rm -f "$TMP"/state.db*
	build-bench/store_lookup sqlite "$TMP/state.db" "$ENTRIES" "$LOOKUPS" "$threads"
done

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$AS "$PGBIN/initdb" -D "$TMP/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
$AS "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/pg.log" -w -o \
    "-p $PORT -k $TMP -c listen_addresses=127.0.0.1" start >/dev/null
$AS "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres bench
for threads in 1 2; do
	build-bench/store_lookup postgres \
	    "host=127.0.0.1 port=$PORT dbname=bench user=postgres" \
	    "$ENTRIES" "$LOOKUPS" "$threads"
done
