// A stand-in for PostHog behind capture_fallback: answers what posthog-js
// asks for besides capture (remote config, flags) and records every
// request it receives to a JSON file, rewritten after each request.
//
//   node t/sdk/standin-posthog.mjs PORT RECORD_FILE

import { createServer } from 'node:http';
import { renameSync, writeFileSync } from 'node:fs';
import { decodeBody, hex } from './lib.mjs';

const [port, recordFile] = process.argv.slice(2);
if (!port || !recordFile) {
    console.error('usage: standin-posthog.mjs PORT RECORD_FILE');
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

function answer(res, status, type, body) {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
}

function route(req, url, res) {
    const config_m = url.pathname.match(/\/array\/([^/]+)\/config(\.js)?$/);
    if (config_m && req.method === 'GET') {
        // an empty script: the SDK then falls back to the JSON config
        if (config_m[2]) return answer(res, 200, 'application/javascript', '');
        return answer(res, 200, 'application/json', JSON.stringify(config(config_m[1])));
    }
    if (/\/(flags|decide)\/?$/.test(url.pathname) && req.method === 'POST') {
        return answer(res, 200, 'application/json', JSON.stringify(FLAGS));
    }
    return answer(res, 404, 'text/plain', 'not found\n');
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
        };
        try {
            rec.body = decodeBody(body);
        } catch (err) {
            rec.decode_error = String(err);
        }
        records.push(rec);
        save();
        route(req, url, res);
    });
});

save();
server.listen(Number(port), '127.0.0.1', () => {
    console.error(`standin-posthog listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), 10 * 60 * 1000).unref(); // never outlive a test
