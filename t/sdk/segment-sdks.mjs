// Makes the same calls with Segment's and RudderStack's Node SDKs
// (@segment/analytics-node, @rudderstack/rudder-sdk-node), flushes both,
// and prints on stdout, as JSON, what each reported: the messages go to
// the stand-ins the test points them at, which record them.  For
// t/segment_parity.t, which compares their shape with the module's.
//
//   node t/sdk/segment-sdks.mjs CALLS.json
//
// CALLS.json:
//   {"segment":     {"host": ORIGIN, "path": "/v1/batch", "write_key": K},
//    "rudderstack": {"data_plane_url": URL, "write_key": K},
//    "calls": [{"method": "track"|"identify"|"page"|"screen"|"group"|"alias",
//               "args": {...}}, ...]}
// args are the SDKs' own (the same object for both: their APIs take the
// same message fields); a "timestamp" is an ISO string, made a Date here.
//
// Segment's host is an origin only (a path in it would be dropped), so
// the path is given apart; RudderStack's dataPlaneUrl keeps its path.
// Exits non-zero on any SDK error.

import { readFileSync } from 'node:fs';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { watchdog } from './lib.mjs';

const [file] = process.argv.slice(2);
if (!file) {
    console.error('usage: segment-sdks.mjs CALLS.json');
    process.exit(2);
}
watchdog(60000, 'segment-sdks.mjs');

const spec = JSON.parse(readFileSync(file, 'utf8'));
const METHODS = ['track', 'identify', 'page', 'screen', 'group', 'alias'];

// a fresh copy of the arguments, with the timestamp a Date (rudder-sdk-node
// takes nothing else)
function argsOf(call) {
    const args = structuredClone(call.args);
    if (typeof args.timestamp === 'string') args.timestamp = new Date(args.timestamp);
    return args;
}

function makeCalls(client) {
    for (const call of spec.calls) {
        if (!METHODS.includes(call.method)) throw new Error(`unknown method ${call.method}`);
        client[call.method](argsOf(call));
    }
}

async function runSegment() {
    const report = { sdk: '@segment/analytics-node', calls: 0, responses: [], errors: [] };
    const client = new SegmentAnalytics({
        writeKey: spec.segment.write_key,
        host: spec.segment.host,
        path: spec.segment.path,
        flushAt: 50,               // one batch, sent by closeAndFlush
        flushInterval: 30000,
        maxRetries: 0,             // an error must show, not be retried away
        httpRequestTimeout: 5000,
    });
    client.on('error', (err) => report.errors.push(String(err?.reason ?? err?.message ?? err)));
    client.on('http_response', (r) => report.responses.push({ status: r.status, url: r.url }));
    makeCalls(client);
    report.calls = spec.calls.length;
    await client.closeAndFlush({ timeout: 15000 });
    for (const r of report.responses) {
        if (r.status !== 200) report.errors.push(`answered ${r.status}`);
    }
    return report;
}

async function runRudder() {
    const report = { sdk: '@rudderstack/rudder-sdk-node', calls: 0, errors: [] };
    const client = new RudderAnalytics(spec.rudderstack.write_key, {
        dataPlaneUrl: spec.rudderstack.data_plane_url,
        flushAt: 50,
        flushInterval: 30000,
        retryCount: 0,
        logLevel: 'error',
        errorHandler: (err) => report.errors.push(String(err?.response?.status ?? err?.message ?? err)),
    });
    makeCalls(client);
    report.calls = spec.calls.length;
    // the first call went out alone, at once (the SDK's way); the rest now
    await client.flush();
    return report;
}

const reports = {};
try {
    reports.segment = await runSegment();
    reports.rudderstack = await runRudder();
} catch (err) {
    console.error(`segment-sdks.mjs: ${err?.stack ?? err}`);
    process.exit(1);
}

console.log(JSON.stringify(reports, null, 1));
const errors = Object.values(reports).flatMap((r) => r.errors.map((e) => `${r.sdk}: ${e}`));
for (const e of errors) console.error(`segment-sdks.mjs: ${e}`);
process.exit(errors.length ? 1 : 0);
