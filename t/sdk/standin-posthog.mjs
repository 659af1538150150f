// A stand-in for PostHog behind capture_fallback: answers what posthog-js
// asks for besides capture (remote config, flags) and records every
// request it receives to a JSON file, rewritten after each request and
// after each answer.
//
//   node t/sdk/standin-posthog.mjs PORT RECORD_FILE [--static DIR]
//
// --static DIR: a stand-in for PostHog's assets host instead: GET or HEAD
// /static/NAME answers the file DIR/NAME (posthog-js's dist/), anything
// else 404.
//
// Each record: method, path, query, content_type, content_encoding,
// body_length, body_hex (the first bytes), body_sha256, body (decoded)
// or decode_error, host, http_version, headers (x-forwarded-for, cookie,
// user-agent, connection, as received, or null), and once answered
// status, response_content_type, response_length, response_sha256.

import { createServer } from 'node:http';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeBody, hex, sha256 } from './lib.mjs';

const [port, recordFile, ...rest] = process.argv.slice(2);
let staticDir = null;
for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--static' && rest[i + 1]) {
        staticDir = rest[++i];
    } else {
        console.error(`standin-posthog: unknown argument ${rest[i]}`);
        process.exit(2);
    }
}
if (!port || !recordFile) {
    console.error('usage: standin-posthog.mjs PORT RECORD_FILE [--static DIR]');
    process.exit(2);
}

const FLAGS = {
    flags: {
        'test-flag': {
            key: 'test-flag',
            enabled: true,
            variant: null,
            reason: { code: 'condition_match', condition_index: 0, description: 'Matched condition set 1' },
            metadata: { id: 1, version: 1, payload: null },
        },
    },
    errorsWhileComputingFlags: false,
    requestId: '00000000-0000-4000-8000-000000000000',
};

// What /array/<token>/config answers: compression the SDK may use,
// everything optional switched off.
const config = (token) => ({
    token,
    supportedCompression: ['gzip', 'gzip-js'],
    hasFeatureFlags: true,
    autocapture_opt_out: true,
    capturePerformance: false,
    autocaptureExceptions: false,
    captureDeadClicks: false,
    heatmaps: false,
    surveys: false,
    sessionRecording: false,
    siteApps: [],
});

const records = [];

function save() {
    writeFileSync(`${recordFile}.tmp`, JSON.stringify(records, null, 1));
    renameSync(`${recordFile}.tmp`, recordFile);
}

// answers, and records the answer in rec
function answer(res, status, type, body, rec) {
    const bytes = Buffer.from(body);
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(rec.method === 'HEAD' ? undefined : bytes);
    Object.assign(rec, {
        status,
        response_content_type: type,
        response_length: bytes.length,
        response_sha256: sha256(bytes),
    });
    save();
}

const TYPES = { '.js': 'application/javascript', '.json': 'application/json', '.map': 'application/json' };

// the assets host: /static/NAME from staticDir, nothing above it
function routeStatic(req, url, res, rec) {
    const m = url.pathname.match(/^\/static\/([A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*)$/);
    if (m && !m[1].split('/').includes('..') && ['GET', 'HEAD'].includes(req.method)) {
        const file = join(staticDir, m[1]);
        let ok = false;
        try { ok = statSync(file).isFile(); } catch { /* absent */ }
        if (ok) {
            const ext = (m[1].match(/\.[a-z]+$/) || [''])[0];
            return answer(res, 200, TYPES[ext] ?? 'application/octet-stream', readFileSync(file), rec);
        }
    }
    return answer(res, 404, 'text/plain', 'not found\n', rec);
}

function route(req, url, res, rec) {
    if (staticDir !== null) return routeStatic(req, url, res, rec);
    const config_m = url.pathname.match(/\/array\/([^/]+)\/config(\.js)?$/);
    if (config_m && req.method === 'GET') {
        // an empty script: the SDK then falls back to the JSON config
        if (config_m[2]) return answer(res, 200, 'application/javascript', '', rec);
        return answer(res, 200, 'application/json', JSON.stringify(config(config_m[1])), rec);
    }
    if (/\/(flags|decide)\/?$/.test(url.pathname) && req.method === 'POST') {
        return answer(res, 200, 'application/json', JSON.stringify(FLAGS), rec);
    }
    return answer(res, 404, 'text/plain', 'not found\n', rec);
}

const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url, 'http://standin');
        const rec = {
            method: req.method,
            path: url.pathname,
            query: url.search.replace(/^\?/, ''),
            content_type: req.headers['content-type'] ?? null,
            content_encoding: req.headers['content-encoding'] ?? null,
            body_length: body.length,
            body_hex: hex(body),
            body_sha256: sha256(body),
            host: req.headers.host ?? null,
            http_version: req.httpVersion,
            headers: Object.fromEntries(['x-forwarded-for', 'cookie', 'user-agent', 'connection']
                .map((h) => [h, req.headers[h] ?? null])),
        };
        try {
            rec.body = decodeBody(body);
        } catch (err) {
            rec.decode_error = String(err);
        }
        records.push(rec);
        save();
        route(req, url, res, rec);
    });
});

save();
server.listen(Number(port), '127.0.0.1', () => {
    console.error(`standin-posthog listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), 10 * 60 * 1000).unref(); // never outlive a test
