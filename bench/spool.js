// The spool benchmark's driver (started by bench/spool.sh, which sets up
// one capturing nginx per case, the sink and the environment below).
//
// For each run of a case: the worker's counters (/proc/PID/stat, io,
// schedstat), the module's status, the spool directory's newest segment
// and the block device's counters are read; wrk posts the payload for
// BENCH_SECONDS; the worker's CPU and the status are read again at the
// end of the load; the status is polled until the destination delivered
// every event accepted in the run; then everything is read a last time.
// Cases are interleaved (each round runs all four, in an order that
// rotates), so a slow period of the shared machine falls on all of them
// alike; ratios to the case without a spool are taken within a round.
//
// A run counts only if nothing was lost: every answer 200 (none 503),
// the destination's `delivered` equal to the events accepted, nothing
// retried, refused, lost or overflowed, the spool's records and events
// those of the run, nothing refused for a full spool, no destination
// fallen behind, no checksum failure or torn tail, and the sink's log
// holding as many requests, all answered 200, as the status has
// batches. Otherwise the benchmark fails.

'use strict';

const fs = require('fs');
const path = require('path');
const lib = require('./lib');
const { spawn } = require('child_process');
const { sleep, cpu, io, median, range, fmt, pct, printDiff } = lib;

const env = process.env;
const dir = env.BENCH_DIR;
const secs = Number(env.BENCH_SECONDS || 8);
const conns = Number(env.BENCH_CONNECTIONS || 16);
const runs = Number(env.BENCH_RUNS || 5);
const perf = env.BENCH_PERF === '1';
const perfSecs = Number(env.BENCH_PERF_SECONDS || 4);
const perfHz = Number(env.BENCH_PERF_HZ || 499);
const segSize = Number(env.BENCH_SEGMENT_SIZE);
const diskStat = env.BENCH_DISK || '';
const sinkLog = path.join(dir, 'sink.log');
const aim = 0.15;   // sync=100ms: at most 15% below no spool, in req/s

// "none=PID:PORT off=PID:PORT ..." from bench/spool.sh
const cases = env.BENCH_WORKERS.trim().split(/\s+/).map(x => {
    const [, name, pid, port] = x.match(/^([\w.]+)=(\d+):(\d+)$/);
    return { name, worker: Number(pid), spool: name !== 'none',
             url: `http://127.0.0.1:${port}/ingest/e/`,
             status: `http://127.0.0.1:${port}/status`,
             dir: path.join(dir, `spool-${name}`) };
});
const base = cases.find(c => !c.spool);
const interval = cases.find(c => c.name === '100ms');

const counters = ['delivered', 'retried', 'refused', 'overflow', 'lost',
                  'rejected_requests'];
const spoolCounters = ['records', 'events', 'rejected_requests', 'syncs',
                       'sync_ms', 'replayed_events', 'checksum_failures',
                       'torn_tails', 'fell_behind'];

function schedstat(pid) {   // of the main thread: ns on a CPU, waiting
    const [run, wait] = fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8')
                          .trim().split(/\s+/).map(Number);
    return { run, wait };
}

function disk() {   // the device's bytes written and flushes done
    if (!diskStat) {
        return { bytes: 0, flushes: 0 };
    }
    // fields 7 (sectors written) and 16 (flush requests completed) of
    // the kernel's Documentation/block/stat.rst
    const f = fs.readFileSync(diskStat, 'utf8').trim().split(/\s+/)
                .map(Number);
    return { bytes: f[6] * 512, flushes: f[15] || 0 };
}

// the writer's newest segment (the current one, never removed): its seq
// and size; the worker is idle when this is read

function newest(c) {
    let best = null;
    for (const name of fs.readdirSync(c.dir)) {
        const x = name.match(/-([0-9a-f]{16})\.seg$/);
        if (x && (!best || parseInt(x[1], 16) > best.seq)) {
            best = { seq: parseInt(x[1], 16), name };
        }
    }
    if (!best) {
        return { seq: 1, size: 0 };
    }
    return { seq: best.seq, size: fs.statSync(path.join(c.dir, best.name)).size };
}

// bytes appended between two readings: a segment is left for the next
// once it has reached segSize (the record that crosses it ends it
// whole), so each one left counts segSize, short by less than a record

function appended(a, b) {
    return (b.seq - a.seq) * segSize + b.size - a.size;
}

function snapshot(st) {
    const d = st.destinations.ph;
    const s = { accepted: st.events.accepted,
                ok: st.requests.by_status['200'],
                unavailable: st.requests.by_status['503'],
                batches: d.batch_size.count, queued: d.queued_events,
                in_flight: d.in_flight, dest: {}, spool: {},
                spoolBytes: st.spool ? st.spool.bytes : 0 };
    for (const k of counters) {
        s.dest[k] = d[k];
    }
    for (const k of spoolCounters) {
        s.spool[k] = st.spool ? st.spool[k] : 0;
    }
    return s;
}

async function drain(c, before) {
    const start = Date.now();

    for (;;) {
        const s = snapshot(await lib.status(c.status));
        if (s.queued === 0 && s.in_flight === 0
            && s.dest.delivered - before.dest.delivered
               >= s.accepted - before.accepted)
        {
            return { after: s, ms: Date.now() - start };
        }
        if (Date.now() - start > 120000) {
            throw new Error(`${c.name}: not delivered after 120 s: ` +
                            JSON.stringify(s));
        }
        await sleep(50);
    }
}

async function measure(c, seconds) {
    fs.truncateSync(sinkLog, 0);

    const before = snapshot(await lib.status(c.status));
    const seg0 = c.spool ? newest(c) : null;
    const io0 = io(c.worker), c0 = cpu(c.worker), s0 = schedstat(c.worker);
    const d0 = disk(), t0 = process.hrtime.bigint();

    const w = await lib.wrk(c.url, seconds, conns);

    const t1 = process.hrtime.bigint();
    const c1 = cpu(c.worker), s1 = schedstat(c.worker), d1 = disk();
    const mid = snapshot(await lib.status(c.status));
    const { after, ms } = await drain(c, before);
    const c2 = cpu(c.worker), io2 = io(c.worker), d2 = disk();
    const seg2 = c.spool ? newest(c) : null;

    await sleep(400);   // the sink's log buffer (flush=100ms)

    const events = after.accepted - before.accepted;
    const requests = after.ok - before.ok;
    const problems = [];
    const delta = k => after.dest[k] - before.dest[k];
    const sdelta = k => after.spool[k] - before.spool[k];

    if (w.non200 !== 0 || after.unavailable !== before.unavailable) {
        problems.push(`${w.non200} answers not 200, ` +
                      `${after.unavailable - before.unavailable} 503`);
    }
    if (events <= 0 || events !== 10 * requests) {
        problems.push(`${events} events accepted for ${requests} answers 200`);
    }
    if (delta('delivered') !== events) {
        problems.push(`${delta('delivered')} of ${events} delivered`);
    }
    for (const k of counters.slice(1)) {
        if (delta(k) !== 0) {
            problems.push(`${k} ${delta(k)}`);
        }
    }
    if (c.spool) {
        if (sdelta('records') !== requests || sdelta('events') !== events) {
            problems.push(`spool: ${sdelta('records')} records, ` +
                          `${sdelta('events')} events`);
        }
        for (const k of ['rejected_requests', 'replayed_events',
                         'checksum_failures', 'torn_tails', 'fell_behind']) {
            if (sdelta(k) !== 0) {
                problems.push(`spool ${k} ${sdelta(k)}`);
            }
        }
    }

    const sink = lib.readSink(sinkLog);
    const batches = after.batches - before.batches;
    if (sink.requests !== batches || sink.bad !== 0) {
        problems.push(`sink: ${sink.requests} requests (${sink.bad} not ` +
                      `200), ${batches} batches sent`);
    }

    if (problems.length) {
        throw new Error(`${c.name}: ${problems.join('; ')}`);
    }

    const load = Number(t1 - t0) / 1e9;   // seconds of load
    const user = c2.user - c0.user, sys = c2.sys - c0.sys;
    const syncs = mid.spool.syncs - before.spool.syncs;
    const perEvent = x => x / events;

    return {
        events, rps: w.rps, p50: w.p50, p99: w.p99, drainMs: ms,
        us: (user + sys) * 1e6 / events,
        userUs: user * 1e6 / events, sysUs: sys * 1e6 / events,
        busy: (s1.run - s0.run) / 1e9 / load,
        runq: (s1.wait - s0.wait) / 1e9 / load,
        pool: Math.max(0, (c1.user + c1.sys - c0.user - c0.sys)
                          - (s1.run - s0.run) / 1e9) / load,
        appended: c.spool ? perEvent(appended(seg0, seg2)) : 0,
        wchar: perEvent(io2.wchar - io0.wchar),
        dirtied: perEvent(io2.write_bytes - io0.write_bytes),
        cancelled: perEvent(io2.cancelled_write_bytes
                            - io0.cancelled_write_bytes),
        disk: perEvent(d2.bytes - d0.bytes),
        flushes: (d1.flushes - d0.flushes) / load,
        syncs: syncs / load,
        syncMs: syncs ? (mid.spool.sync_ms - before.spool.sync_ms) / syncs : 0,
        onDisk: mid.spoolBytes,
    };
}

function profile(c) {
    return lib.profile(c.worker, path.join(dir, `perf-${c.name}.data`), perfHz,
                       () => measure(c, perfSecs));
}

// the worker's system calls of the spool, timed by perf trace during
// one run: calls and milliseconds by name (wall time in the call,
// blocked or not)

const traced = ['fdatasync', 'fsync', 'pwrite64', 'unlinkat', 'ftruncate',
                'openat'];

async function trace(c) {
    const out = path.join(dir, `trace-${c.name}.txt`);
    const p = spawn('perf', ['trace', '-s', '-o', out,
                             '-e', traced.join(','), '-p', String(c.worker)],
                    { stdio: 'ignore' });
    await sleep(1000);
    const m = await measure(c, perfSecs);
    p.kill('SIGINT');
    await new Promise(resolve => p.on('close', resolve));

    // a summary per thread, headed "name (tid), N events": the worker's
    // own (its event loop) and the rest (its thread pool) apart
    const loop = new Map(), pool = new Map();
    let calls = loop;
    for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
        const h = line.match(/\((\d+)\), \d+ events/);
        if (h) {
            calls = Number(h[1]) === c.worker ? loop : pool;
            continue;
        }
        // name, calls, errors, total, min, avg, max (ms), stddev
        const x = line.match(
            /^\s+(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)/);
        if (x && traced.includes(x[1])) {
            const o = calls.get(x[1]) || { calls: 0, ms: 0, max: 0 };
            o.calls += Number(x[2]);
            o.ms += Number(x[4]);
            o.max = Math.max(o.max, Number(x[5]));
            calls.set(x[1], o);
        }
    }
    return { m, loop, pool };
}

// the disk under the spool, alone: fdatasync after each append of one
// request's record (13 KB), and after 100 ms of the load's appends
// (12 MB); milliseconds, median and largest

function probe() {
    const file = path.join(dir, 'probe');
    const fd = fs.openSync(file, 'a');
    const time = (n, bytes) => {
        const buf = Buffer.alloc(bytes, 'x');
        const ms = [];
        for (let i = 0; i < n; i++) {
            fs.writeSync(fd, buf);
            const t = process.hrtime.bigint();
            fs.fdatasyncSync(fd);
            ms.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
        return `${fmt(median(ms), 2)} ms (largest ${fmt(range(ms)[1], 2)})`;
    };
    const small = time(100, 13000), large = time(10, 12 << 20);
    fs.closeSync(fd);
    fs.unlinkSync(file);
    return `fdatasync after 13 KB ${small}, after 12 MB ${large}`;
}

function cell(a, d, f = x => x) {   // median (range) of a column
    const [lo, hi] = range(a.map(f));
    return `${fmt(median(a.map(f)), d)} (${fmt(lo, d)}-${fmt(hi, d)})`;
}

async function main() {
    console.log(`spool: ${runs} rounds of ${secs}s per case, wrk -c${conns}, ` +
                'one nginx worker per case forwarding to one PostHog ' +
                'destination (loopback sink); spool on ' +
                `${env.BENCH_FS} (${dir})`);

    console.log(`disk alone: ${probe()}`);

    const res = await lib.rounds(cases, runs, secs, measure,
                                 m => fmt(m.rps, 0), 'req/s');

    console.log('');
    console.log('case    req/s, median (range)   p50 us  p99 us  ' +
                'CPU us/event (range)   user   sys  busy  runq  other' +
                '  pool');
    for (const c of cases) {
        const a = res[c.name];
        console.log(`${c.name.padEnd(7)} ${cell(a, 0, m => m.rps).padEnd(23)} ` +
                    `${fmt(median(a.map(m => m.p50)), 0).padStart(6)}  ` +
                    `${fmt(median(a.map(m => m.p99)), 0).padStart(6)}  ` +
                    `${cell(a, 2, m => m.us).padEnd(21)} ` +
                    `${fmt(median(a.map(m => m.userUs)), 2).padStart(5)} ` +
                    `${fmt(median(a.map(m => m.sysUs)), 2).padStart(5)} ` +
                    `${pct(median(a.map(m => m.busy))).padStart(5)} ` +
                    `${pct(median(a.map(m => m.runq))).padStart(5)} ` +
                    `${pct(median(a.map(m => 1 - m.busy - m.runq)))
                       .padStart(6)} ` +
                    `${pct(median(a.map(m => m.pool))).padStart(5)}`);
    }

    console.log('');
    console.log('case    bytes/event: appended  wchar  dirtied  cancelled' +
                '  device   syncs/s  ms/sync  flushes/s  on disk');
    for (const c of cases) {
        const a = res[c.name];
        const med = f => median(a.map(f));
        console.log(`${c.name.padEnd(7)} ` +
                    `${fmt(med(m => m.appended), 0).padStart(19)} ` +
                    `${fmt(med(m => m.wchar), 0).padStart(6)} ` +
                    `${fmt(med(m => m.dirtied), 0).padStart(8)} ` +
                    `${fmt(med(m => m.cancelled), 0).padStart(10)} ` +
                    `${fmt(med(m => m.disk), 0).padStart(7)} ` +
                    `${fmt(med(m => m.syncs), 1).padStart(9)} ` +
                    `${fmt(med(m => m.syncMs), 2).padStart(8)} ` +
                    `${fmt(med(m => m.flushes), 0).padStart(10)} ` +
                    `${fmt(med(m => m.onDisk) / 1048576, 1).padStart(5)} MB`);
    }

    // each case against no spool, paired within a round

    console.log('');
    for (const c of cases.filter(x => x.spool)) {
        const tput = res[c.name].map((m, i) => m.rps / res[base.name][i].rps);
        const cost = res[c.name].map((m, i) => m.us / res[base.name][i].us);
        const [tl, th] = range(tput), [cl, ch] = range(cost);
        const below = 1 - median(tput);
        console.log(`sync=${c.name.padEnd(7)} req/s ${pct(median(tput))} of ` +
                    `no spool (rounds: ${pct(tl)} to ${pct(th)}), CPU per ` +
                    `event ${fmt(median(cost), 2)}x (${fmt(cl, 2)} to ` +
                    `${fmt(ch, 2)})` +
                    (c !== interval ? '' :
                     below <= aim ? `  within the aim (at most 15% below)`
                                  : `  OVER the aim (${pct(below)} below, ` +
                                    'at most 15%)'));
    }
    console.log('(every event delivered in every run, no 503; ratios are ' +
                'medians over the rounds of the pairs measured in the same ' +
                'round; CPU per event: the worker process\'s, its threads ' +
                'included; busy: the time the worker\'s event loop was on ' +
                'a CPU over the load\'s wall time, runq: its time waiting ' +
                'for a CPU, other: the rest (blocked in a system call, or ' +
                'idle), pool: the CPU time of its thread pool over the ' +
                'wall time (fdatasync, removing segments); bytes per event: ' +
                'appended to the segments, passed to write calls (wchar, ' +
                'sockets included), page cache dirtied and dirty pages ' +
                'dropped by the worker (/proc/PID/io write_bytes, ' +
                'cancelled_write_bytes), written to the whole device ' +
                '(anything on it); syncs/s from spool.syncs over the load, ' +
                'ms/sync from spool.sync_ms; ' +
                'flushes/s: the device\'s; on disk: spool.bytes at the end ' +
                'of the load)');

    if (!perf) {
        return;
    }

    console.log('');
    console.log(`perf: one run of ${perfSecs}s per case, the worker sampled ` +
                `at ${perfHz} Hz with DWARF call graphs (on-CPU time only: ` +
                'time blocked in fdatasync is not sampled); us per event ' +
                '(each profile scaled to the CPU per event of its run)');

    const prof = await lib.profiles(cases, profile);

    // inclusive time of the spool's functions and of the system calls it
    // makes, in each case

    const spoolSyms = /^(cap_spool|cap_crc32c|ngx_http_capture_spool|__x64_sys_(writev|fdatasync|fsync|pwrite64|unlink|ftruncate)|do_writev|vfs_writev|ext4_file_write_iter|ext4_buffered_write_iter|generic_perform_write|ext4_sync_file|file_write_and_wait_range|jbd2_)/;
    const names = new Set();
    for (const c of cases) {
        for (const [k, v] of prof[c.name].incl) {
            if (spoolSyms.test(k) && v >= 0.02) {
                names.add(k);
            }
        }
    }
    console.log('  inclusive, us per event: ' +
                cases.map(c => c.name).join(' / '));
    const last = prof[cases[cases.length - 1].name].incl;
    const rows = [...names].sort((a, b) =>
        (last.get(b) || 0) - (last.get(a) || 0));
    for (const k of rows) {
        console.log('    ' + cases.map(c =>
            fmt(prof[c.name].incl.get(k) || 0, 2).padStart(5)).join(' ') +
            `  ${k}`);
    }

    for (const c of cases.filter(x => x.spool)) {
        printDiff(`sync=${c.name} over no spool:`, prof[base.name],
                  prof[c.name], 12);
    }

    console.log('');
    console.log(`perf trace: one run of ${perfSecs}s per case, the ` +
                'worker\'s calls of ' + traced.join(', ') + ', in its ' +
                'event loop and in its thread pool, timed ' +
                '(wall time in the call, waiting for the disk or a CPU ' +
                'included); per call, per event, and the share of the ' +
                'load\'s wall time');

    for (const c of cases) {
        const t = await trace(c);
        const wall = perfSecs * 1000;
        const parts = calls => [...calls].filter(([, x]) => x.calls > 0).map(
            ([k, x]) => `${k} ${x.calls} calls, ` +
                `${fmt(x.ms * 1000 / x.calls, 1)} us each (max ` +
                `${fmt(x.max, 1)} ms), ${fmt(x.ms * 1000 / t.m.events, 2)} ` +
                `us/event, ${pct(x.ms / wall)} of the time`).join('; ');
        console.log(`  ${c.name} (${fmt(t.m.rps, 0)} req/s): event loop: ` +
                    (parts(t.loop) || 'none') + '; thread pool: ' +
                    (parts(t.pool) || 'none'));
    }
}

main().catch(e => {
    console.error(`bench: ${e.message}`);
    process.exit(1);
});
