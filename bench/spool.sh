#!/usr/bin/env bash
# The spool benchmark (part of make bench; alone: BENCH=spool make bench).
# The same load as bench/run.sh (wrk, the posthog-js-like payload of
# 10 events) captured by one nginx worker forwarding to one PostHog
# destination, a loopback sink (a second nginx that discards the body
# and answers 200, logging one short line per request, as in
# bench/fanout.sh), in four cases:
#   none     no capture_spool: the events wait in memory only
#   off      capture_spool sync=off: appended, never synced by the module
#   100ms    capture_spool sync=100ms: the interval policy, the default
#   always   capture_spool sync=always: answered after fdatasync (group
#            commit per turn of the event loop)
# capture_spool is of the http context, so each case is an nginx of its
# own (one worker, its own spool directory under build/bench/spool/, on
# the disk that backs the project), all four started at once and idle
# but for the case being run.
#
# bench/spool.js runs the cases interleaved, BENCH_RUNS times, and
# prints per case: requests/s, wrk's p50 and p99, the worker's CPU per
# event, the bytes appended to the spool per event (from the segments'
# numbers and sizes) and what /proc/PID/io says the worker dirtied in
# the page cache, the fdatasync() calls per second (the status'
# spool.syncs), and checks that every event was delivered.
# BENCH_PERF=1 adds one profiled run per case (perf record) and one
# with the spool's blocking system calls timed (perf trace).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/bench/spool
port=$(( ${BENCH_PORT:-18481} + 20 ))
cases=(none off 100ms always)

. "$root/bench/lib.sh"

bench_need_wrk
bench_fresh_dir
bench_copy_module

common=$(bench_conf_common)
temps="
$(bench_conf_temps)
    keepalive_requests 10000000; keepalive_timeout 600s;
"

sink_port=$port

cat > "$dir/sink.conf" <<CONF
$common
pid $dir/sink.pid;
http {
    $temps
    log_format sink '\$status \$content_length';
    server {
        listen 127.0.0.1:$sink_port;
        access_log $dir/sink.log sink buffer=64k flush=100ms;
        location / { return 200 '{"status":"Ok"}'; }
    }
}
CONF

# one nginx per case: capture on /ingest/, the status on /status

i=0
for c in "${cases[@]}"; do
    i=$((i + 1))
    spool=""
    [ "$c" = none ] || spool="capture_spool $dir/spool-$c max_size=8192m
                                     segment_size=16m sync=$c;"
    cat > "$dir/$c.conf" <<CONF
load_module $dir/module.so;
$common
pid $dir/$c.pid;
http {
    $temps
    access_log off;
    capture_drain_timeout 1s;
    $spool

    capture_destination ph {
        type posthog; url http://127.0.0.1:$sink_port;
        queue_size 5000000; queue_bytes 3000m;
    }

    server {
        listen 127.0.0.1:$((port + i));
        location /ingest/ { capture ph; }
        location = /status { capture_status; }
    }
}
CONF
done

pids=("$dir/sink.pid")
for c in "${cases[@]}"; do
    pids+=("$dir/$c.pid")
done

stop() {
    bench_stop "${pids[@]}"
}
trap stop EXIT

bench_nginx "$dir/sink.conf"
for c in "${cases[@]}"; do
    bench_nginx "$dir/$c.conf"
done
sleep 0.5

workers="" i=0
for c in "${cases[@]}"; do
    i=$((i + 1))
    w=$(bench_worker_of "$dir/$c.pid")
    [ -n "$w" ] || { echo "bench: no nginx worker for $c"; exit 1; }
    workers="$workers $c=$w:$((port + i))"
done

# what the spool is written to: the file system and the block device
# under build/bench (its stat file gives the device's writes and flushes)

fs=$(findmnt -n -o SOURCE,FSTYPE -T "$dir" | tr -s ' ')
dev=$(findmnt -n -o SOURCE -T "$dir")
disk=/sys/class/block/$(basename "$dev")/stat
[ -r "$disk" ] || disk=""

bench_check_perf

BENCH_DIR=$dir BENCH_WORKERS=$workers \
BENCH_FS="$fs" BENCH_DISK="$disk" \
BENCH_SEGMENT_SIZE=$((16 << 20)) \
PAYLOAD=$dir/payload.gz \
    node "$root/bench/spool.js"

bench_check_log
