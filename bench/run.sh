#!/usr/bin/env bash
# make bench: one nginx worker, wrk on loopback, in one run:
#   return   nginx "return 200" on the same request
#   proxy    PostHog's recommended reverse proxy (proxy_pass) to a local
#            upstream (a second nginx)
#   capture  the module capturing to the file destination
#   nofile   the same, the destination file being /dev/null (what the
#            module costs without the file system's share)
#   posthog  the module forwarding to the PostHog destination, a local
#            stand-in (the second nginx) answering 200
#   hang     the same while the destination accepts connections and never
#            answers (capture latency must not change)
#   floor    inflate + yajl parse of the payload in a C loop
#   fanout   CPU per event with one, two and three remote destinations
#            (bench/fanout.sh)
#   spool    the same forwarding with no spool and with capture_spool at
#            sync=off, 100ms and always (bench/spool.sh)
# The payload is a posthog-js-like gzip batch of 10 events.
# BENCH=main runs all but fanout and spool, BENCH=fanout or BENCH=spool
# only that one (default: all, in that order).

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/bench
secs=${BENCH_SECONDS:-8}
conns=${BENCH_CONNECTIONS:-16}
port=${BENCH_PORT:-18481}
bench=${BENCH:-all}

case $bench in
    all|main) ;;
    fanout) exec bash "$root/bench/fanout.sh" ;;
    spool) exec bash "$root/bench/spool.sh" ;;
    *) echo "bench: BENCH is all, main, fanout or spool, not \"$bench\""
       exit 2 ;;
esac

. "$root/bench/lib.sh"

bench_need_wrk
bench_fresh_dir up
bench_copy_module
gcc -O2 -o "$dir/floor" "$root/bench/floor.c" -lz -lyajl

common=$(bench_conf_common)
temps="
    access_log off;
$(bench_conf_temps)
"

cat > "$dir/up.conf" <<CONF
$common
pid $dir/up.pid;
http {
    $temps
    server {
        listen 127.0.0.1:$((port + 3));
        location / { return 200 '{"status":"Ok"}'; }
    }
}
CONF

cat > "$dir/nginx.conf" <<CONF
load_module $dir/module.so;
$common
pid $dir/nginx.pid;
http {
    $temps
    capture_destination local { type file; path $dir/events.jsonl; }
    capture_destination null { type file; path /dev/null; }
    capture_destination ph {
        type posthog; url http://127.0.0.1:$((port + 3));
        queue_size 5000000; queue_bytes 3000m;
    }
    capture_destination hang {
        type posthog; url http://127.0.0.1:$((port + 6));
        queue_size 5000000; queue_bytes 3000m; timeout 120s;
    }
    capture_drain_timeout 1s;
    upstream posthog { server 127.0.0.1:$((port + 3)); keepalive 32; }
    server {
        listen 127.0.0.1:$port;
        location / { return 200 '{"status":"Ok"}'; }
    }
    server {
        listen 127.0.0.1:$((port + 1));
        location / {
            proxy_pass http://posthog;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host us.i.posthog.com;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
    server {
        listen 127.0.0.1:$((port + 2));
        location /ingest/ { capture local; }
    }
    server {
        listen 127.0.0.1:$((port + 4));
        location /ingest/ { capture null; }
    }
    server {
        listen 127.0.0.1:$((port + 5));
        location /ingest/ { capture ph; }
    }
    server {
        listen 127.0.0.1:$((port + 7));
        location /ingest/ { capture hang; }
    }
}
CONF

# a destination that accepts connections and never answers
node -e "require('net').createServer(() => {}).listen($((port + 6)),
         '127.0.0.1')" &
hang_pid=$!

stop() {
    bench_stop "$dir/nginx.pid" "$dir/up.pid"
    kill "$hang_pid" 2>/dev/null || true
}
trap stop EXIT

bench_nginx "$dir/up.conf"
bench_nginx "$dir/nginx.conf"
sleep 0.5

export PAYLOAD=$dir/payload.gz

run() {   # name url
    local out rps p50 p99 non200

    # warm-up, then the measured run
    wrk -t1 -c"$conns" -d2s -s "$root/bench/post.lua" "$2" >/dev/null
    : > "$dir/events.jsonl"
    out=$(wrk -t1 -c"$conns" -d"${secs}s" -s "$root/bench/post.lua" "$2")
    : > "$dir/events.jsonl"

    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '/^p50_us/ {print $2}')
    p99=$(echo "$out" | awk '/^p99_us/ {print $2}')
    non200=$(echo "$out" | awk '/^non200/ {print $2}')

    printf '%-8s %10.0f req/s %10.0f events/s  p50 %6d us  p99 %6d us' \
           "$1" "$rps" "$(awk -v r="$rps" 'BEGIN {print r * 10}')" "$p50" "$p99"
    [ "$non200" = 0 ] || printf '  (%s answers not 200)' "$non200"
    printf '\n'

    eval "rps_$1=$rps"
}

echo "payload: $(stat -c %s "$dir/payload.gz") bytes gzip," \
     "$(stat -c %s "$dir/payload.json") bytes JSON, 10 events;" \
     "wrk -c$conns, ${secs}s, one nginx worker"

run return  "http://127.0.0.1:$port/e/"
run proxy   "http://127.0.0.1:$((port + 1))/e/"
run capture "http://127.0.0.1:$((port + 2))/ingest/e/"
run nofile  "http://127.0.0.1:$((port + 4))/ingest/e/"
run posthog "http://127.0.0.1:$((port + 5))/ingest/e/"
run hang    "http://127.0.0.1:$((port + 7))/ingest/e/"

floor_ns=$("$dir/floor" "$dir/payload.gz" 20000)

echo "floor: inflate + yajl parse: $floor_ns ns per payload"

# cost per request on the worker's core, in microseconds
awk -v r="$rps_return" -v c="$rps_capture" -v n="$rps_nofile" \
    -v f="$floor_ns" 'BEGIN {
    nginx = 1e6 / r; module = 1e6 / c; nofile = 1e6 / n; floor = f / 1000;
    printf "cost: nginx %.1f us, capture %.1f us (%.1f us without the " \
           "file), floor %.1f us per request\n", nginx, module, nofile, floor;
    printf "ratio: capture / (nginx + floor) = %.2f, without the file " \
           "%.2f (aim: at most 2)\n", module / (nginx + floor),
           nofile / (nginx + floor);
}'

awk -v f="$rps_capture" -v p="$rps_posthog" -v h="$rps_hang" 'BEGIN {
    printf "forwarding: cost per event %.2f of the file destination'"'"'s " \
           "(aim: at most 1.25); with the destination hanging %.2f\n",
           f / p, f / h;
}'

if [ "$bench" = all ]; then
    stop
    trap - EXIT
    sleep 1.5   # the drain of the hanging destination (1s)
    echo
    bash "$root/bench/fanout.sh"
    echo
    bash "$root/bench/spool.sh"
fi
