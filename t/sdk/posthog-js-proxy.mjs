// Drives posthog-js in headless Chromium through the first-party set-up of
// docs/posthog-proxy.md: the page (t/sdk/proxy-page.html) loads PostHog's
// snippet, which loads /ingest/static/array.js through capture_fallback,
// and then sends flags, remote config and capture to /ingest/.  Prints on
// stdout, as JSON, what the page saw and what the browser sent and got
// under /ingest/ (full-body digests included), for t/sdk_proxy.t.
//
//   node t/sdk/posthog-js-proxy.mjs http://127.0.0.1:PORT RUN_ID
//
// Loopback only: any request to another host is aborted and reported.

import { launchChromium, recordRequests, sleep, waitFor, watchdog } from './lib.mjs';

const [base, runId] = process.argv.slice(2);
if (!base || !runId) {
    console.error('usage: posthog-js-proxy.mjs BASE_URL RUN_ID');
    process.exit(2);
}
watchdog(22000, 'posthog-js-proxy.mjs');

const pageUrl = `${base}/app/proxy-page.html`;
const userId = `proxy-user-${runId}`;
const ingest = `${base}/ingest/`;

const { context, close } = await launchChromium();

const external = [];
await context.route((url) => /^(http|ws)s?:$/.test(url.protocol) && url.hostname !== '127.0.0.1',
    (route) => {
        external.push(route.request().url());
        return route.abort();
    });

const page = await context.newPage();
const requests = recordRequests(page, ingest);
// the Cookie header of each request under /ingest/ (only allHeaders()
// has it), by method and path
const cookies = [];
page.on('request', async (req) => {
    if (!req.url().startsWith(ingest)) return;
    const headers = await req.allHeaders().catch(() => ({}));
    cookies.push({ method: req.method(), path: new URL(req.url()).pathname,
                   cookie: headers.cookie ?? null });
});
page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
        console.error(`page ${msg.type()}: ${msg.text()}`);
    }
});
page.on('pageerror', (err) => console.error(`page error: ${err}`));

const out = { page_url: pageUrl, user_id: userId, requests, cookies, external };
try {
    await page.goto(pageUrl, { waitUntil: 'load' });
    // the stub is replaced by the real instance once array.js ran
    await page.waitForFunction(() => window.posthog && window.posthog.__loaded, null,
                               { timeout: 8000 });

    Object.assign(out, await page.evaluate(() => ({
        webdriver: navigator.webdriver,
        is_bot: posthog._is_bot(),
        anon_id: posthog.get_distinct_id(),
        scripts: performance.getEntriesByType('resource')
            .filter((e) => e.initiatorType === 'script')
            .map((e) => new URL(e.name).pathname),
    })));
    if (out.is_bot) throw new Error('posthog-js takes this browser for a bot');

    await page.evaluate((testId) => {
        posthog.capture('sdk proxy test', { test_id: testId, text: 'héllo wörld ✓' });
    }, `${runId}-custom`);

    await page.evaluate(([id, runId]) => {
        posthog.identify(id, { email: `${id}@example.com` }, { first_run: runId });
    }, [userId, runId]);

    out.flag_enabled = await waitFor(
        () => page.evaluate(() => window.__test.flagEnabled), 'test-flag', 6000);

    // every batch sent and answered, every answer read
    await waitFor(() => ['$pageview', 'sdk proxy test', '$identify']
        .every((name) => requests.some((r) => r.status !== null
            && r.events.some((e) => e.event === name)))
        && requests.every((r) => r.failure || r.response_sha256 !== undefined),
        'batches sent', 6000);
    await sleep(300);   // a late request of the SDK, if any, is seen too

    out.request_errors = await page.evaluate(() => window.__test.requestErrors);
} catch (err) {
    out.error = String(err?.stack || err);
} finally {
    await close();
}

// the scripts' text is checked by digest; keep the output small
for (const r of requests) {
    if (r.response && r.response.length > 4096) r.response = null;
}
console.log(JSON.stringify(out, null, 1));
process.exit(out.error ? 1 : 0);
