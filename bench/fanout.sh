#!/usr/bin/env bash
# The fan-out benchmark (part of make bench; alone: BENCH=fanout make bench).
# The same load as bench/run.sh (wrk, the posthog-js-like payload of
# 10 events) captured by one nginx worker with:
#   null     the file destination /dev/null: the module with no remote
#            destination (the base the others add to)
#   ph       one PostHog destination
#   ph+sg    PostHog and Segment
#   ph+sg+wh PostHog, Segment and a webhook
# Every remote destination points at a loopback sink: a second nginx
# that discards the body and answers 200 (as the forwarding benchmark
# of run.sh does), logging one short line per request to count them.
#
# What is measured is the CPU time of the capturing worker (utime +
# stime from /proc/PID/stat) from the start of the load until every
# event was delivered to every destination, divided by the events
# accepted: not requests/s, which the other users of a shared machine
# move more than CPU time. Cases run interleaved, BENCH_RUNS times;
# bench/fanout.js prints medians and ranges and checks that nothing was
# dropped. BENCH_PERF=1 adds one profiled run per case (perf).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/bench/fanout
port=$(( ${BENCH_PORT:-18481} + 10 ))

. "$root/bench/lib.sh"

bench_need_wrk
bench_fresh_dir
bench_copy_module

common=$(bench_conf_common)
temps="
$(bench_conf_temps)
    keepalive_requests 10000000; keepalive_timeout 600s;
"

ph_port=$((port + 1)) sg_port=$((port + 2)) wh_port=$((port + 3))
status_port=$((port + 4))

# the sinks: nginx's return discards the body as it reads it; one log
# line per request (status and body bytes), buffered

sink() {   # name port
    cat <<CONF
    server {
        listen 127.0.0.1:$2;
        access_log $dir/sink-$1.log sink buffer=64k flush=100ms;
        location / { return 200 '{"status":"Ok"}'; }
    }
CONF
}

cat > "$dir/sink.conf" <<CONF
$common
pid $dir/sink.pid;
http {
    $temps
    log_format sink '\$status \$content_length';
$(sink ph $ph_port)
$(sink sg $sg_port)
$(sink wh $wh_port)
}
CONF

remote="queue_size 5000000; queue_bytes 3000m;"

cat > "$dir/nginx.conf" <<CONF
load_module $dir/module.so;
$common
pid $dir/nginx.pid;
http {
    $temps
    access_log off;
    capture_drain_timeout 1s;

    capture_destination null { type file; path /dev/null; }
    capture_destination ph_1 {
        type posthog; url http://127.0.0.1:$ph_port; $remote
    }
    capture_destination ph_2 {
        type posthog; url http://127.0.0.1:$ph_port; $remote
    }
    capture_destination sg_2 {
        type segment; url http://127.0.0.1:$sg_port;
        write_key bench_write_key; $remote
    }
    capture_destination ph_3 {
        type posthog; url http://127.0.0.1:$ph_port; $remote
    }
    capture_destination sg_3 {
        type segment; url http://127.0.0.1:$sg_port;
        write_key bench_write_key; $remote
    }
    capture_destination wh_3 {
        type webhook; url http://127.0.0.1:$wh_port/events; $remote
    }

    server {
        listen 127.0.0.1:$port;
        location /null/ { capture null; }
        location /ph/ { capture ph_1; }
        location /ph_sg/ { capture ph_2 sg_2; }
        location /ph_sg_wh/ { capture ph_3 sg_3 wh_3; }
    }
    server {
        listen 127.0.0.1:$status_port;
        location = /status { capture_status; }
    }
}
CONF

stop() {
    bench_stop "$dir/nginx.pid" "$dir/sink.pid"
}
trap stop EXIT

bench_nginx "$dir/sink.conf"
bench_nginx "$dir/nginx.conf"
sleep 0.5

worker=$(bench_worker_of "$dir/nginx.pid")
sink_worker=$(bench_worker_of "$dir/sink.pid")

[ -n "$worker" ] && [ -n "$sink_worker" ] || {
    echo "bench: no nginx worker"
    exit 1
}

bench_check_perf

BENCH_DIR=$dir BENCH_WORKER=$worker BENCH_SINK_WORKER=$sink_worker \
BENCH_BASE="http://127.0.0.1:$port" \
BENCH_STATUS="http://127.0.0.1:$status_port/status" \
PAYLOAD=$dir/payload.gz \
    node "$root/bench/fanout.js"

bench_check_log
