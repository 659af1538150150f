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

command -v wrk >/dev/null || {
    echo "bench: installing wrk"
    apt-get install -y -qq wrk >/dev/null
}

rm -rf "$dir"
mkdir -p "$dir"/{body,proxy,fastcgi,uwsgi,scgi}

node "$root/bench/payload.js" "$dir"

# the module as it is now: others may rebuild build/ while this runs
cp "$root/build/ngx_http_capture_module.so" "$dir/module.so"

user=""
[ "$(id -u)" -eq 0 ] && user="user root;"

common="
    $user
    worker_processes 1;
    error_log $dir/error.log warn;
    events { worker_connections 4096; }
"
temps="
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_max_body_size 20m; client_body_buffer_size 64k;
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
    for p in "$dir/nginx.pid" "$dir/sink.pid"; do
        [ -f "$p" ] && kill -QUIT "$(cat "$p")" 2>/dev/null || true
    done
}
trap stop EXIT

nginx -p "$dir" -c "$dir/sink.conf" -e "$dir/error.log"
nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
sleep 0.5

worker_of() {   # the one worker of the nginx whose master wrote pid file $1
    local master w
    master=$(cat "$1")
    w=$(cat "/proc/$master/task/$master/children" 2>/dev/null \
        || pgrep -P "$master")
    echo ${w%% *}
}

worker=$(worker_of "$dir/nginx.pid")
sink_worker=$(worker_of "$dir/sink.pid")

[ -n "$worker" ] && [ -n "$sink_worker" ] || {
    echo "bench: no nginx worker"
    exit 1
}

if [ "${BENCH_PERF:-0}" = 1 ] && ! command -v perf >/dev/null; then
    echo "bench: BENCH_PERF=1 needs perf (apt-get install linux-perf)"
    export BENCH_PERF=0
fi

BENCH_DIR=$dir BENCH_WORKER=$worker BENCH_SINK_WORKER=$sink_worker \
BENCH_BASE="http://127.0.0.1:$port" \
BENCH_STATUS="http://127.0.0.1:$status_port/status" \
PAYLOAD=$dir/payload.gz \
    node "$root/bench/fanout.js"

if grep -q '\[\(alert\|crit\|emerg\|error\)\]' "$dir/error.log"; then
    echo "bench: errors in $dir/error.log:"
    grep '\[\(alert\|crit\|emerg\|error\)\]' "$dir/error.log" | head -5
    exit 1
fi
