#!/usr/bin/env bash
# `make demo`: nginx with the capture module on http://127.0.0.1:8080/,
# in the foreground, capturing posthog-js events to build/demo/events.jsonl.
# Ctrl-C stops it.
#
#   DEMO_PORT     port to listen on (default 8080)
#   CAPTURE_NGINX the nginx binary (default /usr/sbin/nginx)
#   CAPTURE_MODULE  the module (default build/ngx_http_capture_module.so)

set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
dir=$repo/build/demo
port=${DEMO_PORT:-8080}
nginx=${CAPTURE_NGINX:-/usr/sbin/nginx}
module=${CAPTURE_MODULE:-$repo/build/ngx_http_capture_module.so}

# nginx reads $NGINX as inherited listening sockets (binary upgrade)
unset NGINX

die() { echo "demo: $*" >&2; exit 1; }
[ -f "$module" ] || die "no $module: run 'make module' first"
[ -f node_modules/posthog-js/dist/array.full.js ] \
    || die "no posthog-js in node_modules: run 'make deps' first"

mkdir -p "$dir"/{body,proxy,fastcgi,uwsgi,scgi}
user=""
[ "$(id -u)" -eq 0 ] && user="user root;"

# nginx runs a private copy of the module: `make module` rewrites the
# built file in place, which would crash a running nginx that maps it
cp "$module" "$dir/.module.tmp"
mv -f "$dir/.module.tmp" "$dir/ngx_http_capture_module.so"

sed -e "s|@MODULE@|$dir/ngx_http_capture_module.so|g" \
    -e "s|@DIR@|$dir|g" -e "s|@REPO@|$repo|g" -e "s|@PORT@|$port|g" \
    -e "s|@USER@|$user|g" \
    demo/nginx.conf.in > "$dir/nginx.conf"

args=(-p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log")
"$nginx" "${args[@]}" -t -q || die "bad configuration: see $dir/nginx.conf"

cat <<EOF

  Capture demo: nginx with the capture module, no network needed.

    open   http://127.0.0.1:$port/
    watch  tail -f build/demo/events.jsonl

  Configuration: build/demo/nginx.conf   error log: build/demo/error.log
  Ctrl-C stops nginx.

EOF

"$nginx" "${args[@]}" &
pid=$!

stop() {
    trap - INT TERM
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$dir/nginx.pid"
    echo
    echo "demo: stopped; events are kept in build/demo/events.jsonl"
    exit 0
}
trap stop INT TERM

wait "$pid" || die "nginx exited with status $?: see $dir/error.log"
