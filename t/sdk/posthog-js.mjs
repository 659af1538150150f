// Drives posthog-js in headless Chromium against nginx with the capture
// module, and prints on stdout, as JSON, what the page saw and what it
// sent to /ingest/ (decoded from the wire) for t/sdk_browser.t to check.
//
//   node t/sdk/posthog-js.mjs http://127.0.0.1:PORT RUN_ID

import { launchChromium, recordRequests, sleep, waitFor, watchdog } from './lib.mjs';

const [base, runId] = process.argv.slice(2);
if (!base || !runId) {
    console.error('usage: posthog-js.mjs BASE_URL RUN_ID');
    process.exit(2);
}
watchdog(90000, 'posthog-js.mjs');

const pageUrl = `${base}/app/page.html`;
const userId = `browser-user-${runId}`;

const { context, close } = await launchChromium();
const page = await context.newPage();
const requests = recordRequests(page, `${base}/ingest/`);
page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
        console.error(`page ${msg.type()}: ${msg.text()}`);
    }
});
page.on('pageerror', (err) => console.error(`page error: ${err}`));

const out = { page_url: pageUrl, user_id: userId, requests };
try {
    await page.goto(pageUrl, { waitUntil: 'load' });
    await page.waitForFunction(() => window.posthog && window.posthog.__loaded);

    Object.assign(out, await page.evaluate(() => ({
        webdriver: navigator.webdriver,
        is_bot: posthog._is_bot(),
        anon_id: posthog.get_distinct_id(),
    })));
    if (out.is_bot) throw new Error('posthog-js takes this browser for a bot');

    await page.evaluate((testId) => {
        posthog.capture('sdk browser test', {
            test_id: testId,
            answer: 42,
            nested: { list: [1, 'two', null], ok: true },
            text: 'héllo wörld ✓',
        });
    }, `${runId}-custom`);

    await page.evaluate(([id, runId]) => {
        posthog.identify(id,
            { email: `${id}@example.com`, name: 'Browser Tester' },
            { first_run: runId });
    }, [userId, runId]);

    out.flag_enabled = await waitFor(
        () => page.evaluate(() => window.__test.flagEnabled), 'test-flag', 10000);

    // the batched fetches, answered, before the page goes away
    await waitFor(() => ['$pageview', 'sdk browser test', '$identify']
        .every((name) => requests.some((r) => r.status !== null
            && r.events.some((e) => e.event === name))), 'batches sent', 15000);

    out.request_errors = await page.evaluate(() => window.__test.requestErrors);

    // Leaving the page: $pageleave goes out by sendBeacon on pagehide.
    // Playwright does not see a request sent by an unloading document:
    // t/sdk_browser.t finds it in nginx's access log and in the events.
    await page.goto('about:blank');
    await sleep(1500);
} catch (err) {
    out.error = String(err?.stack || err);
} finally {
    await close();
}

console.log(JSON.stringify(out, null, 1));
process.exit(out.error ? 1 : 0);
