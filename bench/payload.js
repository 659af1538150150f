// A posthog-js-like batch: {api_key, batch: [10 events], sent_at}, the
// properties a browser SDK sends, gzip-compressed as posthog-js sends it.
// Usage: node bench/payload.js OUTDIR

'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');

const out = process.argv[2];
const now = Date.now();
const events = [];

for (let i = 0; i < 10; i++) {
    events.push({
        uuid: crypto.randomUUID(),
        event: i === 0 ? '$pageview' : (i % 3 ? '$autocapture' : 'signup_clicked'),
        properties: {
            $os: 'Linux', $os_version: '', $browser: 'Chrome',
            $device_type: 'Desktop', $timezone: 'Europe/Amsterdam',
            $current_url: 'https://www.example.com/pricing?plan=team',
            $host: 'www.example.com', $pathname: '/pricing',
            $raw_user_agent: 'Mozilla/5.0 (X11; Linux x86_64) ' +
                'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 ' +
                'Safari/537.36',
            $browser_version: 131, $browser_language: 'en-US',
            $screen_height: 1080, $screen_width: 1920,
            $viewport_height: 961, $viewport_width: 1920,
            $lib: 'web', $lib_version: '1.449.2', $insert_id: 'x' + i,
            $time: (now - 1000 * (10 - i)) / 1000,
            distinct_id: '0193a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07',
            $device_id: '0193a5d2-7b4e-7c1a-9f3e-2b8d6c4a1e07',
            $session_id: '0193a5d2-8c01-7f3e-a1b2-c3d4e5f60718',
            $window_id: '0193a5d2-8c01-7f3e-a1b2-c3d4e5f60719',
            $referrer: '$direct', $referring_domain: '$direct',
            $elements_chain: i % 3 ? 'button.btn.btn-primary:text="Start"' +
                'nth-child="2"nth-of-type="1";div.hero:nth-child="1"' : '',
            token: 'phc_bench_token', $is_identified: false,
            $process_person_profile: true
        },
        timestamp: new Date(now - 1000 * (10 - i)).toISOString(),
        offset: 1000 * (10 - i)
    });
}

const body = JSON.stringify({
    api_key: 'phc_bench_token', batch: events,
    sent_at: new Date(now).toISOString()
});

fs.writeFileSync(path.join(out, 'payload.json'), body);
fs.writeFileSync(path.join(out, 'payload.gz'), zlib.gzipSync(body));
