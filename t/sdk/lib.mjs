// Helpers shared by the SDK drivers (posthog-node.mjs, posthog-js.mjs)
// and the stand-in PostHog.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

// Ends the process if a driver hangs: no test may wait forever.
export function watchdog(ms, what) {
    const timer = setTimeout(() => {
        console.error(`${what}: gave up after ${ms} ms`);
        process.exit(3);
    }, ms);
    timer.unref();
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls fn (may be async) until it returns a truthy value.
export async function waitFor(fn, what, timeoutMs = 10000, everyMs = 100) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await fn();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(everyMs);
    }
}

export const isGzip = (buf) =>
    !!buf && buf.length >= 3 && buf[0] === 0x1f && buf[1] === 0x8b && buf[2] === 0x08;

// Decodes a request body the way the SDKs under test encode it (raw gzip,
// a form with base64 `data`, or plain JSON): the test's own oracle of
// what was sent, never fed to the module.
export function decodeBody(buf) {
    if (!buf || buf.length === 0) return null;
    let text;
    if (isGzip(buf)) {
        text = gunzipSync(buf).toString('utf8');
    } else {
        text = buf.toString('utf8');
        if (text.startsWith('data=')) {
            const form = new URLSearchParams(text);
            text = Buffer.from(form.get('data'), 'base64').toString('utf8');
        }
    }
    return JSON.parse(text);
}

// The events of a capture payload: an array, a {batch: [...]} or one event.
export function eventsOf(payload) {
    if (payload === null || typeof payload !== 'object') return [];
    if (Array.isArray(payload)) return payload;
    if (Array.isArray(payload.batch)) return payload.batch;
    return typeof payload.event === 'string' ? [payload] : [];
}

export const hex = (buf, n = 16) => (buf ? buf.subarray(0, n).toString('hex') : '');

// sha256 of all the bytes, in hex ('' for no body)
export const sha256 = (buf) => (buf && buf.length ? createHash('sha256').update(buf).digest('hex') : '');

// What a request body was: its size, first bytes, digest and, for
// capture payloads, its events and sent_at.
export function describeBody(buf) {
    const d = { body_length: buf ? buf.length : 0, body_hex: hex(buf), body_sha256: sha256(buf),
                events: [], sent_at: null };
    try {
        const payload = decodeBody(buf);
        d.events = eventsOf(payload);
        d.sent_at = payload?.sent_at ?? null;
    } catch (err) {
        d.decode_error = String(err);
    }
    return d;
}

// Headless Chromium that posthog-js does not take for a bot: a normal
// desktop user agent and no navigator.webdriver.  The user agent is a
// command-line flag, not Playwright's per-page override: the override is
// gone by the time `pagehide` runs, and posthog-js would drop $pageleave
// as a bot's.  Playwright gives the browser a fresh temporary profile.
export async function launchChromium() {
    const { chromium } = await import('playwright-core');
    const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
    const version = execFileSync(executablePath, ['--version'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 });
    const major = version.match(/ (\d+)\./)?.[1] ?? '130';
    const userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 ' +
        `(KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
    const browser = await chromium.launch({
        executablePath,
        headless: true,
        timeout: 30000,
        args: [
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update',
            '--disable-sync', '--disable-blink-features=AutomationControlled',
            `--user-agent=${userAgent}`,
        ],
    });
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    context.setDefaultTimeout(15000);
    const close = () => browser.close().catch(() => {});
    return { browser, context, close };
}

// Records what a page sends to URLs under `prefix`: method, path, query,
// the headers that matter, the first bytes of the body, the decoded
// events and, once it finishes, the answer (its text, and the status,
// content type, length and sha256 of its bytes).
export function recordRequests(page, prefix) {
    const records = [];
    const byRequest = new Map();
    page.on('request', (req) => {
        if (!req.url().startsWith(prefix)) return;
        const url = new URL(req.url());
        const headers = req.headers();
        const rec = {
            method: req.method(),
            path: url.pathname,
            query: url.search.replace(/^\?/, ''),
            resource_type: req.resourceType(),
            content_type: headers['content-type'] ?? null,
            content_encoding: headers['content-encoding'] ?? null,
            ...describeBody(req.postDataBuffer()),
            status: null,
            response: null,
        };
        records.push(rec);
        byRequest.set(req, rec);
    });
    page.on('requestfinished', async (req) => {
        const rec = byRequest.get(req);
        const res = rec && (await req.response().catch(() => null));
        if (!res) return;
        rec.status = res.status();
        rec.response_content_type = res.headers()['content-type'] ?? null;
        const body = await res.body().catch(() => null);
        rec.response = body ? body.toString('utf8') : null;
        rec.response_length = body ? body.length : null;
        rec.response_sha256 = body ? sha256(body) : null;
    });
    page.on('requestfailed', (req) => {
        const rec = byRequest.get(req);
        if (rec) rec.failure = req.failure()?.errorText ?? 'failed';
    });
    return records;
}
