// A stand-in for a remote destination (PostHog /batch/, Segment,
// RudderStack, a webhook): a real HTTP/1.1 server on 127.0.0.1 that
// records every request and misbehaves on command.  Driven by
// t/lib/StandIn.pm; see there for the API the tests use.
//
//   node standin.mjs --port N --control SOCKET --record FILE
//                    [--tls CERT KEY] [--keepalive-ms MS]
//                    [--spec segment|rudderstack [--write-key KEY]]
//
// Recording: each request, once fully read and before it is answered, is
// one JSON line {type: "request", seq, ...} appended to FILE; its raw body
// goes to FILE.d/SEQ.raw and, when gunzipped, the decoded body to
// FILE.d/SEQ.body.  When the answer is decided at once (ok, status, close,
// a broken gzip) it is in that same line; an answer given later (slow) is
// a second line {type: "answer", seq, ...}.
//
// Spec profiles (--spec): the stand-in is Segment's HTTP Tracking API or
// RudderStack's HTTP API.  Every request is checked against that API's
// rules (see "spec profiles" below); what breaks them is a list of
// strings, `violations`, in the request's line ([] when there is none),
// and the answer is the one the real service would give: Segment 200
// {"success":true} for almost everything, 400 only for a body that does
// not parse or is too large; RudderStack 200 "OK" (text/plain), 401 for
// missing or wrong credentials, 400 for a body that is not JSON or a
// message without userId/anonymousId, 413 for a body over 4,000 KB.
// Without --spec nothing is checked and the answers are as below.
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
        case '--spec': opt.spec = a[++i]; break;
        case '--write-key': opt.writeKey = a[++i]; break;
        default: fail(`unknown argument ${a[i]}`);
        }
    }
    if (!opt.port || !opt.control || !opt.record) fail('--port, --control and --record are required');
    if (opt.spec !== undefined && !['segment', 'rudderstack'].includes(opt.spec)) fail(`unknown spec ${opt.spec}`);
    if (opt.writeKey !== undefined && opt.spec === undefined) fail('--write-key needs --spec');
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
// `verdict` is the spec profile's (checkSpec), undefined without one.
function decide(bodyError, verdict) {
    const m = mode;
    // a body that cannot be decoded, or one the profile's service refuses,
    // is refused by any answering mode, without using up the count
    const refusal = verdict ? verdict.refusal
        : bodyError ? jsonAnswer(400, JSON.stringify({ type: 'validation_error', detail: bodyError }))
        : null;
    if (refusal && ['ok', 'status', 'slow'].includes(m.name)) return { answer: refusal };
    if (m.count !== undefined && --m.count <= 0) mode = { name: 'ok' };

    const ok = verdict ? verdict.ok : jsonAnswer(200, OK_BODY);
    switch (m.name) {
    case 'ok': return { answer: ok };
    case 'slow': return { answer: ok, delayMs: m.delayMs };
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

// --- spec profiles ---
//
// The rules, for both profiles unless said:
//   request   POST to a path ending in /v1/batch, or /v1/TYPE for one
//             message (track, identify, page, screen, group, alias): any
//             other is answered 404; Segment: Content-Type
//             application/json (RudderStack reads the body whatever the
//             type: its own Node SDK labels gzip JSON
//             application/x-www-form-urlencoded); Content-Encoding none
//             or gzip (decoded)
//   auth      Authorization: Basic base64("KEY:").  Segment: the write
//             key is the user name and the password is empty (the colon
//             is there), or, with no Authorization header, "writeKey" in
//             the body; Segment answers 200 all the same.  RudderStack:
//             the write key is the user name (any password), never read
//             from the body; missing or wrong: 401.  The key is compared
//             only when the stand-in was given one (--write-key).
//   body      JSON (else 400); /v1/batch: an object with a non-empty
//             "batch" array (not an array: 400); "sentAt", "timestamp"
//             ISO 8601 and "context", "integrations" objects when there,
//             "writeKey" a string when there
//   messages  an object; "type" one of the six (in a batch; a single
//             message's type, when there, is its path's); "userId" or
//             "anonymousId", a non-empty string (null counts as absent,
//             as analytics.js sends it; a number is a violation): with
//             neither, RudderStack answers 400; track: "event" a
//             non-empty string; identify: "traits" an object when there;
//             page, screen: "name" a string and "properties" an object
//             when there; group: "groupId" a non-empty string, "traits"
//             an object when there; alias: "previousId" and "userId"
//             non-empty strings; every type: "messageId" a non-empty
//             string of fewer than 100 characters, "timestamp",
//             "originalTimestamp", "sentAt" ISO 8601 strings, "context",
//             "integrations", "properties", "traits" objects, each when
//             there; the context keys of the spec: "ip", "userAgent",
//             "locale", "timezone", "groupId" strings, "library", "page",
//             "screen", "os", "device", "campaign", "app", "network",
//             "traits" objects, library.name and .version strings
//   sizes     Segment: a message at most 32 KB (32,768 bytes of its
//             compact JSON, as JSON.stringify writes it again), a body at
//             most 500 KB (512,000 bytes, decoded), at most 2,500
//             messages (more: answered 200, a violation: Segment drops
//             them); too large: 400.  RudderStack: a body (decoded) at
//             most 4,000 KB (its gateway's default), else 413.

const MAX_VIOLATIONS = 50;      // recorded per request
const SEGMENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'];
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;

const SPECS = {
    segment: {
        maxMessage: 32 * 1024,
        maxBody: 500 * 1024,
        tooLarge: 400,
        maxMessages: 2500,
        bodyKey: true,          // writeKey in the body stands for the header
        emptyPassword: true,
        refuseAuth: false,      // answered 200 all the same
        refuseNoId: false,
        jsonContentType: true,
        ok: () => jsonAnswer(200, JSON.stringify({ success: true })),
        refusal: (code, why) => jsonAnswer(code, JSON.stringify({ success: false, message: why })),
    },
    rudderstack: {
        maxMessage: null,
        maxBody: 4000 * 1024,
        tooLarge: 413,
        maxMessages: null,
        bodyKey: false,
        emptyPassword: false,
        refuseAuth: true,
        refuseNoId: true,
        // its own rudder-sdk-node sends gzip JSON as
        // application/x-www-form-urlencoded (axios's default for a Buffer)
        jsonContentType: false,
        ok: () => textAnswer(200, 'OK'),
        refusal: (code, why) => textAnswer(code, why),
    },
};

const textAnswer = (code, body) => ({ code, body, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNonEmptyString = (v) => typeof v === 'string' && v.length > 0;
const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

// user:password of a Basic Authorization header, or a reason it has none
function basicCredentials(header) {
    const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
    if (!m) return { error: 'Authorization is not Basic with base64 credentials' };
    const text = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return { error: 'the Basic credentials have no ":" (base64 of "writeKey:")', user: text };
    return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

// Checks one request against the profile: {violations, refusal (the
// answer of the real service when it refuses, else null), ok (its answer
// otherwise)}.  `body` is the decoded body, null when it did not decode.
function checkSpec(name, req, path, body, bodyError) {
    const p = SPECS[name];
    const violations = [];
    let refusal = null;
    const bad = (what) => violations.push(what);
    // the first refusal is the one answered, in the order the service checks
    const refuse = (code, why) => { refusal ??= p.refusal(code, why); };

    // the request line and the headers
    const route = /(?:^|\/)v1\/(batch|track|identify|page|screen|group|alias)$/.exec(path);
    if (req.method !== 'POST') {
        bad(`method ${req.method}: the API takes POST only`);
        refuse(404, 'Not Found');
    }
    if (!route) {
        bad(`path ${path}: not /v1/batch nor /v1/{${SEGMENT_TYPES.join(',')}}`);
        refuse(404, 'Not Found');
    }
    const ctype = req.headers['content-type'] ?? '';
    if (p.jsonContentType && !/^application\/json\s*(;|$)/i.test(ctype)) {
        bad(`Content-Type "${ctype}": not application/json`);
    }
    const cenc = (req.headers['content-encoding'] ?? '').trim();
    if (cenc !== '' && !/^(gzip|identity)$/i.test(cenc)) bad(`Content-Encoding "${cenc}": only gzip is taken`);

    // the body, parsed before the credentials only to find a body writeKey
    let json;
    let parsed = false;
    if (body !== null) {
        try {
            json = JSON.parse(body.toString('utf8'));
            parsed = true;
        } catch (err) {
            // reported below, in the service's order
        }
    }

    // credentials
    const auth = req.headers.authorization;
    const bodyKey = parsed && isObject(json) ? json.writeKey : undefined;
    if (bodyKey !== undefined && typeof bodyKey !== 'string') bad(`body writeKey is ${typeOf(bodyKey)}, not a string`);
    if (auth === undefined) {
        if (!p.bodyKey) {
            bad('no Authorization header (the write key is read from Basic auth only)');
            refuse(401, 'Failed to read writeKey from header');
        } else if (bodyKey === undefined) {
            bad('no Authorization header and no writeKey in the body');
        } else if (opt.writeKey !== undefined && bodyKey !== opt.writeKey) {
            bad('the body writeKey is not the write key');
        }
    } else {
        const c = basicCredentials(auth);
        if (c.error) {
            bad(c.error);
            if (p.refuseAuth) refuse(401, 'Invalid Authorization Header');
        } else {
            if (c.user === '') {
                bad('the Basic user name (the write key) is empty');
                if (p.refuseAuth) refuse(401, 'Invalid Authorization Header');
            } else if (opt.writeKey !== undefined && c.user !== opt.writeKey) {
                bad('the Basic user name is not the write key');
                if (p.refuseAuth) refuse(401, 'Invalid Write Key');
            }
            if (p.emptyPassword && c.password !== '') bad('the Basic password is not empty (base64 of "writeKey:")');
            if (typeof bodyKey === 'string' && bodyKey !== c.user) bad('the body writeKey differs from the Authorization user');
        }
    }

    // size, then syntax
    const size = body === null ? 0 : body.length;
    if (size > p.maxBody) {
        bad(`body of ${size} bytes: over ${p.maxBody}`);
        refuse(p.tooLarge, 'Request size too large');
    }
    if (bodyError) {
        bad(`body: ${bodyError}`);
        refuse(400, 'Invalid JSON');
    } else if (!parsed) {
        bad(size === 0 ? 'no body' : 'the body is not JSON');
        refuse(400, 'Invalid JSON');
    }
    if (!parsed || !route) return { violations, refusal, ok: p.ok() };

    // the messages
    let messages;
    if (route[1] === 'batch') {
        if (!isObject(json) || !Array.isArray(json.batch)) {
            bad(`body is ${typeOf(json)}${isObject(json) ? ` whose "batch" is ${typeOf(json.batch)}` : ''}, not {"batch": [...]}`);
            refuse(400, 'Invalid JSON');
            return { violations, refusal, ok: p.ok() };
        }
        messages = json.batch;
        if (messages.length === 0) bad('"batch" is empty');
        if (p.maxMessages && messages.length > p.maxMessages) {
            bad(`${messages.length} messages in one batch: over ${p.maxMessages} (the rest are dropped)`);
        }
        for (const k of ['sentAt', 'timestamp']) {
            if (json[k] !== undefined && !(typeof json[k] === 'string' && ISO_8601.test(json[k]))) {
                bad(`body ${k} ${JSON.stringify(json[k])}: not an ISO 8601 string`);
            }
        }
        for (const k of ['context', 'integrations']) {
            if (json[k] !== undefined && !isObject(json[k])) bad(`body ${k} is ${typeOf(json[k])}, not an object`);
        }
    } else {
        messages = [json];
    }

    const implied = route[1] === 'batch' ? null : route[1];
    messages.forEach((m, i) => {
        const where = implied ? implied : `batch[${i}]`;
        const r = checkMessage(m, implied, p, (what) => bad(`${where}: ${what}`));
        if (r.noId && p.refuseNoId) refuse(400, 'Non Identifiable Request');
        if (r.tooLarge) refuse(p.tooLarge, 'Message size too large');
    });

    return { violations, refusal, ok: p.ok() };
}

// One message; reports through bad(); {noId, tooLarge}
function checkMessage(m, implied, p, bad) {
    if (!isObject(m)) {
        bad(`the message is ${typeOf(m)}, not an object`);
        return { noId: true };
    }
    let type = m.type;
    if (implied) {
        if (type !== undefined && type !== implied) bad(`type ${JSON.stringify(type)} sent to /v1/${implied}`);
        type = implied;
    } else if (!SEGMENT_TYPES.includes(type)) {
        bad(`type ${JSON.stringify(type)}: not one of ${SEGMENT_TYPES.join(', ')}`);
    }

    const str = (k, what) => {
        if (m[k] !== undefined && !isNonEmptyString(m[k])) bad(`${k} is ${typeOf(m[k])}${m[k] === '' ? ' (empty)' : ''}, not ${what ?? 'a non-empty string'}`);
    };
    const need = (k) => {
        if (m[k] === undefined || m[k] === null) bad(`${type} needs ${k}`);
        else str(k);
    };
    const obj = (o, k, prefix = '') => {
        if (o[k] !== undefined && !isObject(o[k])) bad(`${prefix}${k} is ${typeOf(o[k])}, not an object`);
    };

    // ids: a present null is the absence of one
    for (const k of ['userId', 'anonymousId']) {
        if (m[k] !== undefined && m[k] !== null) str(k);
    }
    const noId = !isNonEmptyString(m.userId) && !isNonEmptyString(m.anonymousId);
    if (noId) bad('neither userId nor anonymousId (a non-empty string)');

    switch (type) {
    case 'track':
        need('event');
        break;
    case 'page':
    case 'screen':
        if (m.name !== undefined && typeof m.name !== 'string') bad(`name is ${typeOf(m.name)}, not a string`);
        if (m.category !== undefined && typeof m.category !== 'string') bad(`category is ${typeOf(m.category)}, not a string`);
        break;
    case 'group':
        need('groupId');
        break;
    case 'alias':
        need('previousId');
        if (m.userId === undefined || m.userId === null) bad('alias needs userId');
        break;
    }

    if (m.messageId !== undefined) {
        str('messageId');
        if (typeof m.messageId === 'string' && m.messageId.length >= 100) {
            bad(`messageId of ${m.messageId.length} characters: 100 or more`);
        }
    }
    for (const k of ['timestamp', 'originalTimestamp', 'sentAt']) {
        if (m[k] !== undefined && !(typeof m[k] === 'string' && ISO_8601.test(m[k]))) {
            bad(`${k} ${JSON.stringify(m[k])}: not an ISO 8601 string`);
        }
    }
    for (const k of ['context', 'integrations', 'properties', 'traits']) obj(m, k);

    if (isObject(m.context)) {
        const c = m.context;
        for (const k of ['ip', 'userAgent', 'locale', 'timezone', 'groupId']) {
            if (c[k] !== undefined && typeof c[k] !== 'string') bad(`context.${k} is ${typeOf(c[k])}, not a string`);
        }
        for (const k of ['library', 'page', 'screen', 'os', 'device', 'campaign', 'app', 'network', 'traits']) {
            obj(c, k, 'context.');
        }
        if (isObject(c.library)) {
            for (const k of ['name', 'version']) {
                if (c.library[k] !== undefined && typeof c.library[k] !== 'string') {
                    bad(`context.library.${k} is ${typeOf(c.library[k])}, not a string`);
                }
            }
        }
    }

    let tooLarge = false;
    if (p.maxMessage) {
        const size = Buffer.byteLength(JSON.stringify(m));
        if (size > p.maxMessage) {
            bad(`message of ${size} bytes: over ${p.maxMessage}`);
            tooLarge = true;
        }
    }
    return { noId, tooLarge };
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
    let body = raw;             // decoded; null when it does not decode
    if (/^\s*gzip\s*$/i.test(req.headers['content-encoding'] ?? '')) {
        try {
            body = gunzipSync(raw);
            writeFileSync(`${bodyDir}/${rec.seq}.body`, body);
            rec.body_file = 'body';
        } catch (err) {
            bodyError = `gzip: ${err.message}`;
            rec.error = bodyError;
            rec.body_file = null;
            body = null;
        }
    }

    let verdict;
    if (opt.spec) {
        verdict = checkSpec(opt.spec, req, rec.path, body, bodyError);
        rec.spec = opt.spec;
        // enough to tell what is wrong; a bad 2,500-message batch stays one line
        const v = verdict.violations;
        rec.violations = v.length <= MAX_VIOLATIONS ? v
            : [...v.slice(0, MAX_VIOLATIONS), `... and ${v.length - MAX_VIOLATIONS} more`];
    }

    const d = decide(bodyError, verdict);

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
