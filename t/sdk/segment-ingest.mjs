// Sends track, identify, page, screen, group and alias with the real
// @segment/analytics-node and @rudderstack/rudder-sdk-node to nginx with
// the capture module (Segment-spec ingestion), and prints on stdout, as
// JSON, every request each SDK made (decoded from the wire) and its
// answer, for t/segment_ingest.t to check against what PostHog receives.
//
//   node t/sdk/segment-ingest.mjs BASE_URL WRITE_KEY RUN_ID
//
// BASE_URL is the capture location, e.g. http://127.0.0.1:8080/ingest.
// Exits non-zero on any SDK error or answer other than 200.

import { Analytics } from '@segment/analytics-node';
import Rudder from '@rudderstack/rudder-sdk-node';
import axios from 'axios';
import { decodeBody, watchdog } from './lib.mjs';

const [base, writeKey, runId] = process.argv.slice(2);
if (!base || !writeKey || !runId) {
    console.error('usage: segment-ingest.mjs BASE_URL WRITE_KEY RUN_ID');
    process.exit(2);
}
watchdog(60000, 'segment-ingest.mjs');

const errors = [];

// the same calls for both SDKs; ids carry the SDK and the run
function calls(sdk) {
    const user = `${sdk}-user-${runId}`;
    const anon = `${sdk}-anon-${runId}`;
    const context = {
        ip: '203.0.113.9',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Test/1.0',
        locale: 'fr-FR',
        timezone: 'Europe/Paris',
        page: { path: '/pricing', referrer: 'https://example.com/',
                url: 'https://shop.example/pricing?plan=pro',
                title: 'Pricing' },
        screen: { width: 1280, height: 800 },
        os: { name: 'Linux' },
        campaign: { name: 'spring', source: 'newsletter', medium: 'email' },
    };
    return [
        ['track', { userId: user, anonymousId: anon, event: 'Order Completed',
                    properties: { order_id: 'o-1', revenue: 49.5,
                                  items: [{ sku: 's-1', qty: 2 }] },
                    context }],
        ['track', { anonymousId: anon, event: 'Signup Started',
                    properties: { plan: 'pro' } }],
        ['identify', { userId: user, anonymousId: anon,
                       traits: { email: `${sdk}@example.com`, plan: 'pro',
                                 logins: 3 }, context }],
        ['page', { userId: user, name: 'Pricing',
                   properties: { url: 'https://shop.example/pricing',
                                 path: '/pricing',
                                 referrer: 'https://example.com/',
                                 variant: 'b' }, context }],
        ['screen', { userId: user, name: 'Home',
                     properties: { tab: 'feed' } }],
        ['group', { userId: user, groupId: `acme-${runId}`,
                    traits: { name: 'Acme', employees: 42,
                              group_type: 'company' } }],
        ['alias', { userId: user, previousId: anon }],
    ];
}

async function segment() {
    const requests = [];

    async function recordingFetch(url, init) {
        const body = Buffer.from(init.body ?? '');
        const rec = {
            method: init.method, path: new URL(url).pathname,
            authorization: init.headers?.Authorization
                           ?? init.headers?.authorization ?? null,
            payload: decodeBody(body),
        };
        requests.push(rec);
        const res = await fetch(url, init);
        rec.status = res.status;
        rec.response = await res.clone().text();
        if (res.status !== 200) errors.push(`segment: ${res.status} ${rec.response}`);
        return res;
    }

    const u = new URL(base);
    const a = new Analytics({
        writeKey,
        host: u.origin,
        path: `${u.pathname.replace(/\/$/, '')}/v1/batch`,
        flushAt: 100,
        flushInterval: 60000,
        maxRetries: 0,
        httpClient: recordingFetch,
    });
    a.on('error', (e) => errors.push(`segment: ${e?.code ?? ''} ${e?.reason ?? e}`));

    for (const [type, msg] of calls('segment')) a[type](msg);
    await a.closeAndFlush({ timeout: 20000 });
    return requests;
}

async function rudderstack() {
    const requests = [];
    const instance = axios.create();

    instance.interceptors.request.use((config) => {
        const data = config.data;
        const body = Buffer.isBuffer(data) ? data
                     : Buffer.from(typeof data === 'string' ? data
                                   : JSON.stringify(data ?? ''));
        const auth = config.auth
            ? 'Basic ' + Buffer.from(`${config.auth.username}:${config.auth.password ?? ''}`)
                             .toString('base64')
            : (config.headers?.Authorization ?? null);
        config.metadata = {
            method: (config.method ?? '').toUpperCase(),
            path: new URL(config.url).pathname,
            authorization: auth,
            content_encoding: config.headers?.['Content-Encoding'] ?? null,
            payload: decodeBody(body),
        };
        requests.push(config.metadata);
        return config;
    });
    instance.interceptors.response.use((res) => {
        res.config.metadata.status = res.status;
        res.config.metadata.response = String(res.data);
        return res;
    }, (err) => {
        const m = err.config?.metadata;
        if (m) {
            m.status = err.response?.status ?? null;
            m.response = String(err.response?.data ?? err.message);
        }
        errors.push(`rudderstack: ${m?.status} ${m?.response ?? err.message}`);
        throw err;
    });

    const client = new Rudder(writeKey, {
        dataPlaneUrl: base,
        flushAt: 100,
        flushInterval: 60000,
        retryCount: 0,
        logLevel: 'error',
        axiosInstance: instance,
        errorHandler: (e) => errors.push(`rudderstack: ${e?.message ?? e}`),
    });

    for (const [type, msg] of calls('rudderstack')) client[type](msg);
    await new Promise((resolve) => client.flush((err) => {
        if (err) errors.push(`rudderstack: ${err.message ?? err}`);
        resolve();
    }));
    return requests;
}

const out = { segment: await segment(), rudderstack: await rudderstack(), errors };
console.log(JSON.stringify(out));
process.exit(errors.length ? 1 : 0);
