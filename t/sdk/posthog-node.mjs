// Sends events with posthog-node to nginx with the capture module and
// prints on stdout, as JSON, every request it made (decoded from the
// wire) and its answer, for t/sdk_node.t to check against the file.
//
//   node t/sdk/posthog-node.mjs HOST RUN_ID gzip|plain
//
// Exits non-zero on any SDK error or answer other than 200.

import { PostHog } from 'posthog-node';
import { describeBody, watchdog } from './lib.mjs';

const [host, runId, mode] = process.argv.slice(2);
if (!host || !runId || !['gzip', 'plain'].includes(mode)) {
    console.error('usage: posthog-node.mjs HOST RUN_ID gzip|plain');
    process.exit(2);
}
watchdog(60000, 'posthog-node.mjs');

const requests = [];
const errors = [];

// posthog-node's own fetch, recording what goes over the wire
async function recordingFetch(url, options) {
    const u = new URL(url);
    const headers = options.headers ?? {};
    const rec = {
        method: options.method,
        path: u.pathname,
        query: u.search.replace(/^\?/, ''),
        content_type: headers['Content-Type'] ?? null,
        content_encoding: headers['Content-Encoding'] ?? null,
        ...describeBody(options.body == null ? null : Buffer.from(options.body)),
    };
    requests.push(rec);

    const res = await fetch(url, options);
    rec.status = res.status;
    rec.response = await res.clone().text();
    return res;
}

function client(options) {
    const c = new PostHog('phc_test_token', {
        host,
        flushInterval: 0,
        fetchRetryCount: 0,        // an error must show, not be retried away
        requestTimeout: 5000,
        disableCompression: mode === 'plain',
        fetch: recordingFetch,
        ...options,
    });
    c.on('error', (err) => errors.push(String(err?.stack || err)));
    return c;
}

const user = `node-user-${runId}`;
const company = `company-${runId}`;

// one request per call: flushed after each
const single = client({ flushAt: 1 });
const each = async (call) => {
    call();
    await single.flush();
};
await each(() => single.capture({
    distinctId: user,
    event: 'node test event',
    properties: {
        test_id: `${runId}-capture`,
        plan: 'pro',
        count: 3,
        nested: { list: [1, 'two', null], ok: true },
        text: 'héllo wörld ✓',
    },
}));
await each(() => single.identify({
    distinctId: user,
    properties: {
        $set: { email: `${user}@example.com`, name: 'Node Tester' },
        $set_once: { first_run: runId },
    },
}));
await each(() => single.alias({ distinctId: user, alias: `node-alias-${runId}` }));
await each(() => single.groupIdentify({
    groupType: 'company',
    groupKey: company,
    properties: { name: 'Acme', employees: 12 },
}));
await each(() => single.capture({
    distinctId: user,
    event: 'node group event',
    properties: { test_id: `${runId}-groups` },
    groups: { company },
}));
await each(() => single.capture({
    distinctId: user,
    event: 'node past event',
    properties: { test_id: `${runId}-past` },
    timestamp: new Date(Date.now() - 3600 * 1000),
}));

// twenty events in one batch
const batched = client({ flushAt: 20, maxBatchSize: 20 });
for (let i = 0; i < 20; i++) {
    batched.capture({
        distinctId: `node-batch-${runId}`,
        event: 'node batch event',
        properties: { test_id: `${runId}-batch-${i}`, index: i },
    });
}

await Promise.all([single.shutdown(10000), batched.shutdown(10000)]);

for (const r of requests) {
    if (r.status !== 200) errors.push(`${r.method} ${r.path}: ${r.status} ${r.response}`);
}
console.log(JSON.stringify({ run_id: runId, mode, user, requests, errors }, null, 1));
for (const e of errors) console.error(`posthog-node error: ${e}`);
process.exit(errors.length ? 1 : 0);
