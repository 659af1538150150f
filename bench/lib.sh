# Shell pieces shared by bench/run.sh, bench/fanout.sh and bench/spool.sh
# (sourced, not run). Each script sets `root` (the project) and `dir`
# (its own directory under build/bench/) before calling these.

# wrk, from Debian's package, when it is missing
bench_need_wrk() {
    command -v wrk >/dev/null || {
        echo "bench: installing wrk"
        apt-get install -y -qq wrk >/dev/null
    }
}

# a fresh $dir with nginx's temporary directories and the payload
# (payload.gz, payload.json); extra directories may follow
bench_fresh_dir() {
    rm -rf "$dir"
    mkdir -p "$dir"/{body,proxy,fastcgi,uwsgi,scgi}
    for d in "$@"; do
        mkdir -p "$dir/$d"
    done
    node "$root/bench/payload.js" "$dir"
}

# the module as it is now, copied: others may rebuild build/ while a
# benchmark runs
bench_copy_module() {
    cp "$root/build/ngx_http_capture_module.so" "$dir/module.so"
}

# the top of every nginx.conf: one worker, warnings to $dir/error.log
bench_conf_common() {
    local user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"
    cat <<CONF
    $user
    worker_processes 1;
    error_log $dir/error.log warn;
    events { worker_connections 4096; }
CONF
}

# the http block's temporary paths and body limits
bench_conf_temps() {
    cat <<CONF
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_max_body_size 20m; client_body_buffer_size 64k;
CONF
}

# start an nginx with the configuration file $1 (prefix $dir)
bench_nginx() {
    nginx -p "$dir" -c "$1" -e "$dir/error.log"
}

# graceful stop of the nginx of each pid file given
bench_stop() {
    local p
    for p in "$@"; do
        [ -f "$p" ] && kill -QUIT "$(cat "$p")" 2>/dev/null || true
    done
}

# the one worker of the nginx whose master wrote the pid file $1
bench_worker_of() {
    local master w
    master=$(cat "$1")
    w=$(cat "/proc/$master/task/$master/children" 2>/dev/null \
        || pgrep -P "$master")
    echo ${w%% *}
}

# BENCH_PERF=1 needs perf: without it, say so and go on unprofiled
bench_check_perf() {
    if [ "${BENCH_PERF:-0}" = 1 ] && ! command -v perf >/dev/null; then
        echo "bench: BENCH_PERF=1 needs perf (apt-get install linux-perf)"
        export BENCH_PERF=0
    fi
}

# fail on any line at error or above in $dir/error.log
bench_check_log() {
    local bad='\[\(alert\|crit\|emerg\|error\)\]'
    if grep -q "$bad" "$dir/error.log"; then
        echo "bench: errors in $dir/error.log:"
        grep "$bad" "$dir/error.log" | head -5
        exit 1
    fi
}
