// What the benchmark drivers share (bench/fanout.js, bench/spool.js):
// the worker's CPU and I/O counters from /proc, the module's status, wrk
// with bench/post.lua, the sinks' logs, statistics, and perf profiles in
// us per event.

'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { execFileSync, spawn } = require('child_process');

const lua = path.join(__dirname, 'post.lua');
const tick = Number(execFileSync('getconf', ['CLK_TCK']).toString());

function sleep(ms) {
    return new Promise(resolve => setTimeout(resolve, ms));
}

function cpu(pid) {   // seconds of CPU of a process: user, system
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the name: state is field 3, utime 14, stime 15
    return { user: Number(f[11]) / tick, sys: Number(f[12]) / tick };
}

function io(pid) {   // /proc/PID/io: rchar, wchar, write_bytes, ...
    const r = {};
    for (const line of fs.readFileSync(`/proc/${pid}/io`, 'utf8')
                          .split('\n')) {
        const x = line.match(/^(\w+): (\d+)$/);
        if (x) {
            r[x[1]] = Number(x[2]);
        }
    }
    return r;
}

function status(url) {   // the module's status, JSON
    return new Promise((resolve, reject) => {
        http.get(url, res => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', d => { body += d; });
            res.on('end', () => {
                try {
                    resolve(JSON.parse(body));
                } catch (e) {
                    reject(new Error(`status: ${e.message}: ${body}`));
                }
            });
        }).on('error', reject);
    });
}

// wrk -t1 posting the payload (PAYLOAD in the environment) to url;
// rps, p50 and p99 in us, the answers not 200

function wrk(url, seconds, conns) {
    return new Promise((resolve, reject) => {
        const w = spawn('wrk', ['-t1', `-c${conns}`, `-d${seconds}s`,
                                '-s', lua, url],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        w.stdout.on('data', d => { out += d; });
        w.on('close', code => {
            if (code !== 0) {
                reject(new Error(`wrk exited with ${code}: ${out}`));
                return;
            }
            const num = re => Number((out.match(re) || [])[1]);
            resolve({ rps: num(/^Requests\/sec:\s+([\d.]+)/m),
                      p50: num(/^p50_us (\d+)/m),
                      p99: num(/^p99_us (\d+)/m),
                      non200: num(/^non200 (\d+)/m),
                      errors: /Socket errors|Non-2xx/.test(out) ? out : '' });
        });
    });
}

// a sink's log (lines of "status content_length"): requests, body bytes,
// statuses other than 200

function readSink(file) {
    const text = fs.readFileSync(file, 'utf8');
    const r = { requests: 0, bytes: 0, bad: 0 };
    for (const line of text.split('\n')) {
        if (line === '') {
            continue;
        }
        const [st, len] = line.split(' ');
        r.requests++;
        r.bytes += Number(len);
        if (st !== '200') {
            r.bad++;
        }
    }
    return r;
}

function median(a) {
    const s = [...a].sort((x, y) => x - y);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function range(a) {
    return [Math.min(...a), Math.max(...a)];
}

function fmt(x, d = 1) {
    return x.toFixed(d);
}

function pct(x) {
    return `${(x * 100).toFixed(0)}%`;
}

// --- perf: where the time goes, per event, by shared object and symbol ---

function perfReport(data, children) {
    return execFileSync('perf', ['report', '-i', data, '--stdio',
                                 children ? '--children' : '--no-children',
                                 '-g', 'none', '--sort', 'dso,sym',
                                 '--percent-limit', '0'],
                        { maxBuffer: 256 << 20,
                          stdio: ['ignore', 'pipe', 'ignore'] })
           .toString().split('\n');
}

// perf record of process pid at hz (DWARF call graphs) into the file
// data while run() runs; run resolves with a measurement whose `us` is
// the CPU per event. Self time by object and symbol (a symbol perf
// cannot name is counted as its object's "?"), and inclusive time by
// symbol, in us per event.

async function profile(pid, data, hz, run) {
    const p = spawn('perf', ['record', '-q', '-F', String(hz),
                             '--call-graph', 'dwarf,16384',
                             '-p', String(pid), '-o', data],
                    { stdio: 'ignore' });
    await sleep(1000);
    const m = await run();
    p.kill('SIGINT');
    await new Promise(resolve => p.on('close', resolve));

    const syms = new Map(), dsos = new Map(), incl = new Map();
    const add = (map, k, v) => map.set(k, (map.get(k) || 0) + v);

    for (const line of perfReport(data, false)) {
        const x = line.match(/^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*\S)\s*$/);
        if (x) {
            const us = Number(x[1]) / 100 * m.us;
            const sym = /^0x[0-9a-f]+$/.test(x[3]) ? '?' : x[3];
            add(syms, `${x[2]} ${sym}`, us);
            add(dsos, x[2], us);
        }
    }

    for (const line of perfReport(data, true)) {
        const x = line.match(
            /^\s+([\d.]+)%\s+[\d.]+%\s+(\S+)\s+\[[.k]\]\s+(.*\S)\s*$/);
        if (x && !/^0x/.test(x[3])) {
            add(incl, x[3], Number(x[1]) / 100 * m.us);
        }
    }

    return { m, syms, dsos, incl };
}

function diff(a, b) {   // b - a, largest first
    const keys = new Set([...a.keys(), ...b.keys()]);
    return [...keys].map(k => [k, (b.get(k) || 0) - (a.get(k) || 0)])
                    .sort((x, y) => y[1] - x[1]);
}

function printDiff(title, a, b, n) {   // two profiles, by object and symbol
    console.log(`  ${title}`);
    const d = diff(a.dsos, b.dsos).filter(([, v]) => Math.abs(v) >= 0.05);
    console.log('    by object: ' + d.map(([k, v]) =>
        `${k} ${v >= 0 ? '+' : ''}${fmt(v, 2)}`).join(', '));
    for (const [k, v] of diff(a.syms, b.syms).slice(0, n)) {
        console.log(`    ${v >= 0 ? '+' : ''}${fmt(v, 2).padStart(5)} us  ${k}`);
    }
}

// Each case warmed up, then "runs" rounds of every case in a rotating
// order (so that no case always follows the same one); each round prints
// its line of show(m) per case.  Returns the measures by case name.
async function rounds(cases, runs, secs, measure, show, unit) {
    for (const c of cases) {   // warm-up
        await measure(c, 2);
    }

    const res = Object.fromEntries(cases.map(c => [c.name, []]));

    for (let r = 0; r < runs; r++) {
        const order = cases.map((_, i) => cases[(i + r) % cases.length]);
        const line = [];
        for (const c of order) {
            const m = await measure(c, secs);
            res[c.name][r] = m;
            line.push(`${c.name} ${show(m)}`);
        }
        console.log(`  round ${r + 1}: ${line.join(', ')} ${unit}`);
    }

    return res;
}

// One profile of each case (profileOf(c)), and a line per case of the
// objects (DSOs) its time went to, in us per event.  Returns them.
async function profiles(cases, profileOf) {
    const prof = {};
    for (const c of cases) {
        prof[c.name] = await profileOf(c);
    }

    for (const c of cases) {
        const p = prof[c.name];
        const top = [...p.dsos].sort((x, y) => y[1] - x[1])
                               .filter(([, v]) => v >= 0.05);
        console.log(`  ${c.name} (${fmt(p.m.us, 2)} us/event under perf): ` +
                    top.map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', '));
    }

    return prof;
}

module.exports = { sleep, cpu, io, status, wrk, readSink, median, range,
                   fmt, pct, profile, diff, printDiff, rounds, profiles };
