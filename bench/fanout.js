// The fan-out benchmark's driver (started by bench/fanout.sh, which
// sets up the capturing nginx, the sinks and the environment below).
//
// For each run of each case: the worker's CPU time (utime + stime from
// /proc/PID/stat) and the module's status are read, wrk posts the
// payload for BENCH_SECONDS, the status is polled until every event
// accepted in the run was delivered to every destination of the case,
// and the CPU time is read again. The cases are interleaved (each round
// runs all of them, in an order that rotates), so a slow period of the
// shared machine falls on all of them alike; the ratios are taken
// within a round.
//
// A run counts only if nothing was lost: every answer 200, every
// destination's `delivered` equal to the events accepted, nothing
// retried, refused, lost, overflowed or rejected, and each sink's log
// holding as many requests, all answered 200, as the status has
// batches. Otherwise the benchmark fails.

'use strict';

const fs = require('fs');
const path = require('path');
const lib = require('./lib');
const { sleep, median, range, fmt, pct, printDiff } = lib;

const env = process.env;
const dir = env.BENCH_DIR;
const worker = Number(env.BENCH_WORKER);
const sinkWorker = Number(env.BENCH_SINK_WORKER);
const base = env.BENCH_BASE;
const statusUrl = env.BENCH_STATUS;
const secs = Number(env.BENCH_SECONDS || 8);
const conns = Number(env.BENCH_CONNECTIONS || 16);
const runs = Number(env.BENCH_RUNS || 5);
const perf = env.BENCH_PERF === '1';
const perfSecs = Number(env.BENCH_PERF_SECONDS || 4);
const perfHz = Number(env.BENCH_PERF_HZ || 499);
const aim = 0.30;

// name, location, destinations as [status name, sink]
const cases = [
    { name: 'null', loc: '/null/', dests: [] },
    { name: 'ph', loc: '/ph/', dests: [['ph_1', 'ph']] },
    { name: 'ph+sg', loc: '/ph_sg/', dests: [['ph_2', 'ph'], ['sg_2', 'sg']] },
    { name: 'ph+sg+wh', loc: '/ph_sg_wh/',
      dests: [['ph_3', 'ph'], ['sg_3', 'sg'], ['wh_3', 'wh']] },
];
const sinks = ['ph', 'sg', 'wh'];

const cpu = (pid = worker) => lib.cpu(pid);
const status = () => lib.status(statusUrl);
const wrk = (url, seconds) => lib.wrk(url, seconds, conns);

const counters = ['delivered', 'retried', 'refused', 'overflow', 'lost',
                  'rejected_requests'];

function snapshot(st, c) {
    const s = { accepted: st.events.accepted,
                ok: st.requests.by_status['200'], dests: {} };
    for (const [d] of c.dests) {
        const x = st.destinations[d];
        s.dests[d] = { batches: x.batch_size.count,
                       queued: x.queued_events, in_flight: x.in_flight };
        for (const k of counters) {
            s.dests[d][k] = x[k];
        }
    }
    return s;
}

// polls the status until every destination of the case holds nothing
// and delivered what was accepted since `before`

async function drain(c, before) {
    const start = Date.now();

    for (;;) {
        const s = snapshot(await status(), c);
        const accepted = s.accepted - before.accepted;
        const done = c.dests.every(([d]) => {
            const x = s.dests[d];
            return x.queued === 0 && x.in_flight === 0
                && x.delivered - before.dests[d].delivered >= accepted;
        });
        if (done) {
            return { after: s, ms: Date.now() - start };
        }
        if (Date.now() - start > 120000) {
            throw new Error(`${c.name}: not delivered after 120 s: ` +
                            JSON.stringify(s));
        }
        await sleep(50);
    }
}

function sinkLog(name) {
    return path.join(dir, `sink-${name}.log`);
}

function readSink(name) {   // requests, bytes, statuses other than 200
    return lib.readSink(sinkLog(name));
}

async function measure(c, seconds) {
    for (const s of sinks) {
        fs.truncateSync(sinkLog(s), 0);
    }

    const before = snapshot(await status(), c);
    const c0 = cpu(), s0 = cpu(sinkWorker);
    const w = await wrk(`${base}${c.loc}e/`, seconds);
    const { after, ms } = await drain(c, before);
    const c1 = cpu(), s1 = cpu(sinkWorker);

    await sleep(400);   // the sinks' log buffers (flush=100ms)

    const events = after.accepted - before.accepted;
    const problems = [];

    if (w.non200 !== 0) {
        problems.push(`${w.non200} answers not 200`);
    }
    if (events <= 0 || events !== 10 * (after.ok - before.ok)) {
        problems.push(`${events} events accepted for ` +
                      `${after.ok - before.ok} answers 200`);
    }

    const sent = {};
    for (const s of sinks) {
        const got = readSink(s);
        const dest = c.dests.find(([, sink]) => sink === s);
        const batches = dest ? after.dests[dest[0]].batches
                               - before.dests[dest[0]].batches : 0;
        if (got.requests !== batches || got.bad !== 0) {
            problems.push(`sink ${s}: ${got.requests} requests ` +
                          `(${got.bad} not 200), ${batches} batches sent`);
        }
        if (dest) {
            sent[s] = { bytes: got.bytes, requests: got.requests };
        }
    }

    for (const [d] of c.dests) {
        const delta = k => after.dests[d][k] - before.dests[d][k];
        if (delta('delivered') !== events) {
            problems.push(`${d}: ${delta('delivered')} of ${events} ` +
                          'delivered');
        }
        for (const k of counters.slice(1)) {
            if (delta(k) !== 0) {
                problems.push(`${d}: ${k} ${delta(k)}`);
            }
        }
    }

    if (problems.length) {
        throw new Error(`${c.name}: ${problems.join('; ')}`);
    }

    const user = c1.user - c0.user, sys = c1.sys - c0.sys;

    const sink = s1.user + s1.sys - s0.user - s0.sys;

    return { events, rps: w.rps, drainMs: ms, sent,
             sinkUs: sink * 1e6 / events,
             us: (user + sys) * 1e6 / events,
             userUs: user * 1e6 / events, sysUs: sys * 1e6 / events };
}

async function profile(c) {
    return lib.profile(worker, path.join(dir, `perf-${c.name}.data`), perfHz,
                       () => measure(c, perfSecs));
}

async function main() {
    console.log(`fanout: ${runs} rounds of ${secs}s per case, wrk -c${conns}, ` +
                'one nginx worker; CPU of the worker per event, from the ' +
                'start of the load to the last delivery');

    const res = await lib.rounds(cases, runs, secs, measure,
                                 m => fmt(m.us, 2), 'us/event');

    console.log('');
    console.log('case         us/event (range)       user   sys  ' +
                'events/s  drain    sinks  bytes/event to each sink');

    for (const c of cases) {
        const a = res[c.name];
        const us = a.map(m => m.us);
        const [lo, hi] = range(us);
        const sent = c.dests.map(([, s]) =>
            `${s} ${fmt(median(a.map(m => m.sent[s].bytes / m.events)), 0)}`);
        console.log(`${c.name.padEnd(10)} ${fmt(median(us), 2).padStart(6)} ` +
                    `(${fmt(lo, 2)} - ${fmt(hi, 2)})`.padEnd(17) +
                    `${fmt(median(a.map(m => m.userUs)), 2).padStart(6)} ` +
                    `${fmt(median(a.map(m => m.sysUs)), 2).padStart(5)} ` +
                    `${fmt(median(a.map(m => m.rps * 10)), 0).padStart(9)} ` +
                    `${fmt(median(a.map(m => m.drainMs)), 0).padStart(5)} ms ` +
                    `${fmt(median(a.map(m => m.sinkUs)), 2).padStart(6)}  ` +
                    sent.join(', '));
    }

    // added cost of each step, against the one-destination cost, paired
    // within a round

    const step = (from, to, name) => {
        const added = res[to].map((m, i) => m.us - res[from][i].us);
        const ratio = res[to].map((m, i) => (m.us - res[from][i].us)
                                            / res.ph[i].us);
        const [lo, hi] = range(ratio);
        console.log(`${name.padEnd(10)} adds ${fmt(median(added), 2)} ` +
                    `us/event = ${pct(median(ratio))} of ph ` +
                    `(rounds: ${pct(lo)} to ${pct(hi)})` +
                    (from === 'null' ? '' :
                     median(ratio) <= aim ? '  within the aim of 30%'
                                          : '  OVER the aim of 30%'));
    };

    console.log('');
    step('null', 'ph', 'posthog');
    step('ph', 'ph+sg', '+segment');
    step('ph+sg', 'ph+sg+wh', '+webhook');
    console.log('(every event delivered to every destination in every run; ' +
                'ratios are medians over the rounds of the pairs measured ' +
                'in the same round; "sinks" is the CPU of the sinks\' ' +
                'nginx worker per event, us)');

    if (!perf) {
        return;
    }

    console.log('');
    console.log(`perf: one run of ${perfSecs}s per case, the worker sampled ` +
                `at ${perfHz} Hz with DWARF call graphs; us per event ` +
                '(each profile scaled to the CPU per event of its run)');

    const prof = await lib.profiles(cases, profile);

    // inclusive time of the module's functions and of curl's entry
    // points, in each case

    const names = new Set();
    for (const c of cases) {
        for (const [k, v] of prof[c.name].incl) {
            if (/^(cap_|ngx_http_capture_|curl_multi|deflate|inflate)/.test(k)
                && v >= 0.1)
            {
                names.add(k);
            }
        }
    }
    console.log('  inclusive, us per event: ' +
                cases.map(c => c.name).join(' / '));
    const last = prof['ph+sg+wh'].incl;
    const rows = [...names].sort((a, b) =>
        (last.get(b) || 0) - (last.get(a) || 0));
    for (const k of rows) {
        console.log('    ' + cases.map(c =>
            fmt(prof[c.name].incl.get(k) || 0, 2).padStart(5)).join(' ') +
            `  ${k}`);
    }

    printDiff('posthog over null:', prof.null, prof.ph, 12);
    printDiff('+segment:', prof.ph, prof['ph+sg'], 15);
    printDiff('+webhook:', prof['ph+sg'], prof['ph+sg+wh'], 15);
}

main().catch(e => {
    console.error(`bench: ${e.message}`);
    process.exit(1);
});
