// A stand-in for a remote destination (PostHog /batch/, Segment,
// RudderStack, a webhook): a real HTTP/1.1 server on 127.0.0.1 that
// records every request and misbehaves on command.  Driven by
// t/lib/StandIn.pm; see there for the API the tests use.
//
//   node standin.mjs --port N --control SOCKET --record FILE
//                    [--tls CERT KEY] [--keepalive-ms MS]
//
// Recording: each request, once fully read and before it is answered, is
// one JSON line {type: "request", seq, ...} appended to FILE; its raw body
// goes to FILE.d/SEQ.raw and, when gunzipped, the decoded body to
// FILE.d/SEQ.body.  When the answer is decided at once (ok, status, close,
// a broken gzip) it is in that same line; an answer given later (slow) is
// a second line {type: "answer", seq, ...}.
//
// Control: a Unix socket, never the served port.  One JSON line in, one
// JSON line out ({ok: true} or {ok: false, error}), sent only once the
// command took effect:
//   {cmd: "ping"}
//   {cmd: "mode", mode: "ok"|"status"|"hang"|"close"|"slow",
//    code, body, content_type, retry_after, delay_ms, count}
//   {cmd: "refuse"}  close the listener and every open connection
//   {cmd: "accept"}  listen again on the same port
//   {cmd: "reset"}   empty the record file

import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createNet } from 'node:net';
import { ftruncateSync, mkdirSync, openSync, readFileSync, rmSync,
         writeFileSync, writeSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

// --- arguments ---

const opt = { keepaliveMs: 60000 };
{
    const a = process.argv.slice(2);
    for (let i = 0; i < a.length; i++) {
        switch (a[i]) {
        case '--port': opt.port = Number(a[++i]); break;
        case '--control': opt.control = a[++i]; break;
        case '--record': opt.record = a[++i]; break;
        case '--tls': opt.cert = a[++i]; opt.key = a[++i]; break;
        case '--keepalive-ms': opt.keepaliveMs = Number(a[++i]); break;
        default: fail(`unknown argument ${a[i]}`);
        }
    }
    if (!opt.port || !opt.control || !opt.record) fail('--port, --control and --record are required');
}

function fail(msg) {
    console.error(`standin: ${msg}`);
    process.exit(2);
}

// --- recording ---

const recordFd = openSync(opt.record, 'a');   // O_APPEND: survives truncation
const bodyDir = `${opt.record}.d`;
mkdirSync(bodyDir, { recursive: true });

// one write per line; the reader takes only what ends in a newline, so
// it never parses a line still being written
function record(obj) {
    writeSync(recordFd, JSON.stringify(obj) + '\n');
}

let seq = 0;          // requests, in the order they were fully read
let connSeq = 0;      // connections, to tell which requests shared one
const CONN = Symbol('conn');

// --- behaviour ---

let mode = { name: 'ok' };

const OK_BODY = JSON.stringify({ status: 'Ok' });

// Checks and normalises a mode command; throws on nonsense.
function parseMode(m) {
    const name = m.mode;
    const out = { name };
    if (!['ok', 'status', 'hang', 'close', 'slow'].includes(name)) throw new Error(`unknown mode ${name}`);
    if (m.count !== undefined && m.count !== null) {
        if (!Number.isInteger(m.count) || m.count < 1) throw new Error('count must be a positive integer');
        out.count = m.count;
    }
    if (name === 'status') {
        if (!Number.isInteger(m.code) || m.code < 100 || m.code > 999) throw new Error('status needs code (100..999)');
        out.code = m.code;
        out.body = m.body ?? JSON.stringify({ type: 'standin', code: m.code });
        out.contentType = m.content_type ?? 'application/json';
        if (m.retry_after !== undefined && m.retry_after !== null) out.retryAfter = String(m.retry_after);
    }
    if (name === 'slow') {
        if (!Number.isFinite(m.delay_ms) || m.delay_ms < 0) throw new Error('slow needs delay_ms >= 0');
        out.delayMs = m.delay_ms;
    }
    return out;
}

// What to do with one request: {answer: {code, body, headers}, delayMs}
// or {hang: true} or {close: true}.  Consumes one of the mode's count.
function decide(bodyError) {
    const m = mode;
    // a body that cannot be decoded is refused by any answering mode,
    // without using up the count
    if (bodyError && ['ok', 'status', 'slow'].includes(m.name)) {
        return { answer: jsonAnswer(400, JSON.stringify({ type: 'validation_error', detail: bodyError })) };
    }
    if (m.count !== undefined && --m.count <= 0) mode = { name: 'ok' };

    switch (m.name) {
    case 'ok': return { answer: jsonAnswer(200, OK_BODY) };
    case 'slow': return { answer: jsonAnswer(200, OK_BODY), delayMs: m.delayMs };
    case 'hang': return { hang: true };
    case 'close': return { close: true };
    case 'status': {
        const headers = { 'Content-Type': m.contentType };
        if (m.retryAfter !== undefined) headers['Retry-After'] = m.retryAfter;
        return { answer: { code: m.code, body: m.body, headers } };
    }
    }
    throw new Error(`mode ${m.name}`);
}

const jsonAnswer = (code, body) => ({ code, body, headers: { 'Content-Type': 'application/json' } });

function send(res, a) {
    res.writeHead(a.code, a.headers);
    res.end(a.body);
}

// --- serving ---

function onRequest(req, res) {
    const tMs = Date.now();
    const sock = req.socket;
    sock[CONN] ??= ++connSeq;

    const chunks = [];
    let done = false;
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        done = true;
        handle(req, res, Buffer.concat(chunks), tMs);
    });
    // the client went away in the middle of its body: still an attempt
    req.on('error', () => {});
    req.on('close', () => {
        if (done) return;
        done = true;
        const rec = describe(req, Buffer.concat(chunks), tMs);
        rec.error = 'client closed the connection before the end of the body';
        rec.incomplete = true;
        record(rec);
    });
}

// the request line of the record, its bodies written to files
function describe(req, raw, tMs) {
    const n = ++seq;
    const q = req.url.indexOf('?');
    const headers = {};
    const rawHeaders = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        const v = req.rawHeaders[i + 1];
        headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
        rawHeaders.push([req.rawHeaders[i], v]);
    }
    writeFileSync(`${bodyDir}/${n}.raw`, raw);
    return {
        type: 'request',
        seq: n,
        conn: req.socket[CONN],
        t_ms: tMs,
        method: req.method,
        path: q < 0 ? req.url : req.url.slice(0, q),
        query: q < 0 ? '' : req.url.slice(q + 1),
        http_version: req.httpVersion,
        tls: !!req.socket.encrypted,
        alpn: req.socket.alpnProtocol || null,
        headers,
        raw_headers: rawHeaders,
        body_length: raw.length,
        body_file: 'raw',        // which file holds the decoded body
    };
}

function handle(req, res, raw, tMs) {
    const rec = describe(req, raw, tMs);

    let bodyError;
    if (/^\s*gzip\s*$/i.test(req.headers['content-encoding'] ?? '')) {
        try {
            writeFileSync(`${bodyDir}/${rec.seq}.body`, gunzipSync(raw));
            rec.body_file = 'body';
        } catch (err) {
            bodyError = `gzip: ${err.message}`;
            rec.error = bodyError;
            rec.body_file = null;
        }
    }

    const d = decide(bodyError);

    if (d.hang) {
        // never answered; the socket stays open (no timeouts, see below)
        rec.hung = true;
        record(rec);
        return;
    }
    if (d.close) {
        rec.closed = true;
        record(rec);
        req.socket.destroy();
        return;
    }
    if (!d.delayMs) {
        rec.status = d.answer.code;
        rec.t_answer_ms = Date.now();
        record(rec);
        send(res, d.answer);
        return;
    }

    record(rec);
    setTimeout(() => {
        if (res.destroyed || req.socket.destroyed) {
            record({ type: 'answer', seq: rec.seq, status: null, client_closed: true, t_answer_ms: Date.now() });
            return;
        }
        record({ type: 'answer', seq: rec.seq, status: d.answer.code, t_answer_ms: Date.now() });
        send(res, d.answer);
    }, d.delayMs);
}

const tlsOpts = opt.cert
    ? { cert: readFileSync(opt.cert), key: readFileSync(opt.key), ALPNProtocols: ['http/1.1'] }
    : null;

let server = null;              // the listening server, null when refusing
const sockets = new Set();      // every open connection, of any server

function listen(cb) {
    const s = tlsOpts ? createHttps(tlsOpts, onRequest) : createHttp(onRequest);
    s.keepAliveTimeout = opt.keepaliveMs;
    s.requestTimeout = 0;       // hang means hang: no server-side timeout
    s.headersTimeout = 60000;
    s.on('connection', (c) => {
        sockets.add(c);
        c.on('close', () => sockets.delete(c));
    });
    s.once('error', (err) => cb(err));
    s.listen(opt.port, '127.0.0.1', () => {
        server = s;
        cb(null);
    });
}

function refuse() {
    if (!server) return;
    server.close();             // the listening socket is closed right away
    server = null;
    for (const c of sockets) c.destroy();
}

// --- control ---

function command(msg, reply) {
    switch (msg.cmd) {
    case 'ping': return reply({ ok: true, pid: process.pid, port: opt.port });
    case 'mode': mode = parseMode(msg); return reply({ ok: true });
    case 'refuse': refuse(); return reply({ ok: true });
    case 'accept':
        if (server) return reply({ ok: true });
        return listen((err) => reply(err ? { ok: false, error: String(err) } : { ok: true }));
    case 'reset': ftruncateSync(recordFd, 0); return reply({ ok: true });
    }
    throw new Error(`unknown command ${msg.cmd}`);
}

function startControl() {
    rmSync(opt.control, { force: true });
    const ctl = createNet((c) => {
        let buf = '';
        c.setEncoding('utf8');
        c.on('error', () => {});
        c.on('data', (d) => {
            buf += d;
            const nl = buf.indexOf('\n');
            if (nl < 0) return;
            const reply = (obj) => c.end(JSON.stringify(obj) + '\n');
            try {
                command(JSON.parse(buf.slice(0, nl)), reply);
            } catch (err) {
                reply({ ok: false, error: err.message });
            }
        });
    });
    ctl.listen(opt.control, () => console.error(`standin: listening on 127.0.0.1:${opt.port}`));
}

// --- lifetime ---

// the control socket answers only once the served port listens
listen((err) => {
    if (err) fail(`cannot listen on 127.0.0.1:${opt.port}: ${err.code ?? err.message}`);
    startControl();
});

process.on('SIGTERM', () => process.exit(0));
// never outlive the test: its process gone (we are re-parented), or 10 min
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500).unref();
setTimeout(() => process.exit(0), 10 * 60 * 1000).unref();
