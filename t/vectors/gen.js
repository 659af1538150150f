#!/usr/bin/env node
// Test vectors for the payload decoders (t/unit/test_decode.c), made
// with the real libraries: node's zlib, Buffer's base64 and the npm
// lz-string package that posthog-js used.
//
//   node t/vectors/gen.js OUTDIR
//
// OUTDIR gets, for each vector NAME:
//
//   NAME.in    the encoded bytes (for "payload" vectors: the body)
//   NAME.out   the bytes the decoder must give
//   NAME.hdr   "payload" vectors only: lines KEY=VALUE with the other
//              request fields (query_data, query_compression,
//              content_type, content_encoding, max_size)
//
// and manifest.txt, one line "KIND NAME" per vector, KIND one of
// base64, gzip, lz64, payload.  The output is the same on every run.

'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const LZString = require('lz-string');

const out = process.argv[2];

if (!out) {
    console.error('usage: node t/vectors/gen.js OUTDIR');
    process.exit(2);
}

fs.mkdirSync(out, { recursive: true });

const manifest = [];

// a small deterministic PRNG (xorshift32): the same vectors every run
let seed = 0x2545f491;

function rnd() {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed;
}

function randomBytes(n) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = rnd() & 0xff;
    return b;
}

function randomId(n) {
    const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < n; i++) s += a[rnd() % a.length];
    return s;
}

function check(cond, what) {
    if (!cond) {
        console.error(`gen.js: ${what}`);
        process.exit(1);
    }
}

function vector(kind, name, input, output, hdr) {
    check(/^[a-z0-9_]+$/.test(name), `bad vector name ${name}`);
    fs.writeFileSync(path.join(out, `${name}.in`), input);
    fs.writeFileSync(path.join(out, `${name}.out`), output);
    if (hdr) {
        let text = '';
        for (const [k, v] of Object.entries(hdr)) {
            check(!/[\r\n]/.test(String(v)), `newline in ${name}.hdr`);
            text += `${k}=${v}\n`;
        }
        fs.writeFileSync(path.join(out, `${name}.hdr`), text);
    }
    manifest.push(`${kind} ${name}`);
}

// posthog-js-like events
function event(i) {
    return {
        event: i % 3 ? '$pageview' : 'clicked button',
        properties: {
            distinct_id: `user-${randomId(12)}`,
            $current_url: `https://example.com/p/${randomId(8)}?q=${i}`,
            $lib: 'web',
            $lib_version: '1.200.0',
            $screen_width: 1000 + (rnd() % 1000),
            token: 'phc_test',
            n: i,
        },
        timestamp: new Date(1700000000000 + i * 1000).toISOString(),
        uuid: `0190${randomId(4)}-0000-7000-8000-${randomId(12)}`,
    };
}

function batch(n) {
    const events = [];
    for (let i = 0; i < n; i++) events.push(event(i));
    return JSON.stringify({ api_key: 'phc_test', batch: events,
                            sent_at: '2024-01-02T03:04:05.678Z' });
}

const json = JSON.stringify({ event: '$pageview', distinct_id: 'u1',
                              properties: { token: 'phc_test',
                                            title: 'Caf\u00e9 \u2603' } });
const jsonBuf = Buffer.from(json, 'utf8');

// ---- base64 (Buffer)

vector('base64', 'b64_empty', '', Buffer.alloc(0));

for (let n = 1; n <= 9; n++) {
    const b = randomBytes(n);
    vector('base64', `b64_len${n}`, b.toString('base64'), b);
    vector('base64', `b64_nopad${n}`,
           b.toString('base64').replace(/=+$/, ''), b);
}

{
    const b = randomBytes(1000);
    vector('base64', 'b64_binary', b.toString('base64'), b);
    vector('base64', 'b64_url', b.toString('base64url'), b);

    // MIME style: CRLF every 76 characters, LF alone too
    const lines = b.toString('base64').match(/.{1,76}/g);
    vector('base64', 'b64_crlf', lines.join('\r\n') + '\r\n', b);
    vector('base64', 'b64_lf', lines.join('\n'), b);

    // a form that turned every "+" into a space
    const spaced = b.toString('base64').replace(/\+/g, ' ');
    check(spaced.includes(' '), 'b64_spaces has no space');
    vector('base64', 'b64_spaces', spaced, b);
}

vector('base64', 'b64_json', jsonBuf.toString('base64'), jsonBuf);

// ---- gzip and zlib (node's zlib)

const big = Buffer.from(batch(2000), 'utf8');
const small = Buffer.from(batch(3), 'utf8');

vector('gzip', 'gz_json', zlib.gzipSync(jsonBuf), jsonBuf);
vector('gzip', 'gz_empty', zlib.gzipSync(Buffer.alloc(0)), Buffer.alloc(0));
vector('gzip', 'gz_level1', zlib.gzipSync(big, { level: 1 }), big);
vector('gzip', 'gz_level9', zlib.gzipSync(big, { level: 9 }), big);
vector('gzip', 'gz_multi',
       Buffer.concat([zlib.gzipSync(small), zlib.gzipSync(jsonBuf)]),
       Buffer.concat([small, jsonBuf]));

// ISIZE of the last member is tiny: the output buffer must grow
vector('gzip', 'gz_multi_grow',
       Buffer.concat([zlib.gzipSync(big), zlib.gzipSync(Buffer.from('!'))]),
       Buffer.concat([big, Buffer.from('!')]));

vector('gzip', 'gz_three',
       Buffer.concat([zlib.gzipSync(Buffer.from('a')),
                      zlib.gzipSync(Buffer.alloc(0)),
                      zlib.gzipSync(Buffer.from('bc'))]),
       Buffer.from('abc'));

vector('gzip', 'gz_padded',
       Buffer.concat([zlib.gzipSync(small), Buffer.alloc(512)]), small);

{
    const r = randomBytes(70000);
    vector('gzip', 'gz_random', zlib.gzipSync(r), r);
}

vector('gzip', 'zlib_json', zlib.deflateSync(jsonBuf), jsonBuf);
vector('gzip', 'zlib_big', zlib.deflateSync(big), big);

// ---- lz-string compressToBase64

function lz(name, text) {
    const enc = LZString.compressToBase64(text);
    check(LZString.decompressFromBase64(enc) === text,
          `lz-string does not round-trip ${name}`);
    // Buffer's UTF-8 encoder writes a lone surrogate as U+FFFD, as the
    // decoder must
    vector('lz64', name, enc, Buffer.from(text, 'utf8'));
}

lz('lz_empty', '');
lz('lz_a', 'a');
lz('lz_json', json);
lz('lz_batch', batch(5));
lz('lz_latin', 'caf\u00e9 na\u00efve \u00dcn\u00efc\u00f6d\u00e9 ' +
               '\u00df\u00f8\u00e5');
lz('lz_cjk', '\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587 ' +
             '\ud55c\uad6d\uc5b4 \u0420\u0443\u0441\u0441\u043a\u0438\u0439');
lz('lz_emoji', '\ud83d\udc4d\ud83c\udffd \ud83c\udf89 \ud83d\ude80 ' +
               '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 ' +
               '{"e":"\ud83d\ude00\ud83d\ude00\ud83d\ude00"}');
lz('lz_lone', 'a\ud800b\udc00c\udbff\ud83d');
lz('lz_nul', 'nul \u0000 and \u0001\u007f\u0080\u00ff\u0100\uffff');
lz('lz_repeat', 'a'.repeat(100000));
lz('lz_long', batch(1500));

{
    // every code unit but the surrogates, shuffled: 16-bit literals
    const units = [];
    for (let u = 0; u < 0x10000; u++) {
        if (u < 0xd800 || u > 0xdfff) units.push(u);
    }
    for (let i = units.length - 1; i > 0; i--) {
        const j = rnd() % (i + 1);
        [units[i], units[j]] = [units[j], units[i]];
    }
    let s = '';
    for (let i = 0; i < units.length; i += 4096) {
        s += String.fromCharCode.apply(null, units.slice(i, i + 4096));
    }
    lz('lz_all_units', s + s.slice(0, 5000));
}

// ---- the pipeline

function payload(name, body, output, hdr) {
    vector('payload', name, body, output, hdr || {});
}

const gz = zlib.gzipSync(small);
const b64 = jsonBuf.toString('base64');
const lzs = LZString.compressToBase64(json);
const text40 = batch(40);
const lzBig = LZString.compressToBase64(text40);

payload('pl_json', json, jsonBuf, { content_type: 'application/json' });
payload('pl_gzip_nohint', gz, small, { content_type: 'text/plain' });
payload('pl_gzip_notype', gz, small, {});
payload('pl_gzip_js', gz, small,
        { query_compression: 'gzip-js', content_type: 'text/plain' });
payload('pl_ce_gzip', gz, small,
        { content_type: 'application/json', content_encoding: 'gzip' });
payload('pl_ce_zlib', zlib.deflateSync(small), small,
        { content_type: 'application/json', content_encoding: 'gzip' });
payload('pl_body_b64', b64, jsonBuf, { content_type: 'text/plain' });
payload('pl_body_b64_gzip', gz.toString('base64'), small,
        { content_type: 'text/plain' });
payload('pl_form_b64', `data=${encodeURIComponent(b64)}&ver=1.0`, jsonBuf,
        { content_type: 'application/x-www-form-urlencoded' });
payload('pl_form_b64_gzip',
        `data=${encodeURIComponent(gz.toString('base64'))}`, small,
        { content_type: 'application/x-www-form-urlencoded; charset=UTF-8' });

{
    // base64 sent raw in a form: "+" becomes a space when decoded
    let text = json;
    let enc = Buffer.from(text).toString('base64');
    for (let i = 0; !enc.slice(0, 128).includes('+'); i++) {
        text = JSON.stringify({ event: 'x', pad: '>'.repeat(i),
                                properties: { token: 'phc_test' } });
        enc = Buffer.from(text).toString('base64');
    }
    payload('pl_form_b64_spaces', `data=${enc}&compression=base64`,
            Buffer.from(text), {});
    payload('pl_form_b64_spaces_typed', `ip=1&_=1700000000000&data=${enc}`,
            Buffer.from(text),
            { content_type: 'application/x-www-form-urlencoded',
              query_compression: 'base64' });
}

payload('pl_lz64_query', `data=${encodeURIComponent(lzs)}`, jsonBuf,
        { content_type: 'application/x-www-form-urlencoded',
          query_compression: 'lz64' });
payload('pl_lz64_form', `data=${encodeURIComponent(lzBig)}&compression=lz64`,
        Buffer.from(text40), {});
payload('pl_lz64_form_raw', `compression=lz-string&data=${lzBig}`,
        Buffer.from(text40), {});
payload('pl_query_json', '', jsonBuf,
        { query_data: encodeURIComponent(json) });
payload('pl_query_b64', 'ignored body', jsonBuf,
        { query_data: encodeURIComponent(b64), query_compression: 'base64' });
payload('pl_query_b64_strict', '', jsonBuf,
        { query_data: encodeURIComponent(b64) });
payload('pl_query_lz64', '', jsonBuf,
        { query_data: encodeURIComponent(lzs), query_compression: 'lz64' });

fs.writeFileSync(path.join(out, 'manifest.txt'), manifest.join('\n') + '\n');

console.log(`gen.js: ${manifest.length} vectors in ${out}`);
