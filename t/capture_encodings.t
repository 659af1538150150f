#!/usr/bin/perl
# Payload encodings (plain JSON, gzip with and without a hint, form bodies
# with base64 or urlencoded JSON, whole-body base64, lz64, GET ?data=) and
# JSON shapes (single event, array, batch object, historical_migration).

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json urlencode gzip_bytes b64);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

my $t = CaptureTest->new;
$t->write_conf(<<'EOF');
capture_destination local { type file; path %%DIR%%/events.jsonl; }

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture local;
        capture_fallback @posthog;
    }

    location @posthog {
        return 200 "fallback $uri\n";
    }
}
EOF
$t->start;

my $seen = 0;
my $case = 0;

# a unique event, with non-ASCII text to check it survives every encoding
sub event {
    my ($name, %extra) = @_;
    return {
        event       => $name,
        distinct_id => "user-$name",
        properties  => {
            token => 'phc_enc',
            text  => "Zo\x{eb} \x{1F642} \x{4E2D}\x{6587}",
            case  => $name,
            %extra,
        },
    };
}

# the events written since the last call
sub new_events {
    my $all = $t->events('events.jsonl');
    my @new = @$all[$seen .. $#$all];
    $seen = @$all;
    return \@new;
}

# sends one request, expects 200 and exactly these events (by name)
sub accepted {
    my ($name, $req, @names) = @_;
    my $r = $t->request(method => 'POST', %$req);
    my $ok = is($r->{status}, 200, "$name: status 200");
    $ok &&= is($r->{body}, '{"status":"Ok"}', "$name: body");
    diag explain $r unless $ok;

    my $new = new_events();
    is_deeply([ map { $_->{event} } @$new ], \@names,
        "$name: events written") or diag explain $new;
    for my $ev (@$new) {
        is($ev->{properties}{text}, "Zo\x{eb} \x{1F642} \x{4E2D}\x{6587}",
            "$name: $ev->{event}: text intact");
        is($ev->{distinct_id}, "user-$ev->{event}",
            "$name: $ev->{event}: distinct_id");
        is($ev->{token}, 'phc_enc', "$name: $ev->{event}: token");
    }
    return $new;
}

# a JSON text whose base64 has '+' and '/' (to check '+' handling in forms)
sub json_with_plus {
    my ($ev) = @_;
    for my $pad (0 .. 200) {
        $ev->{properties}{pad} = '>' x $pad . '?' x $pad;
        my $json = encode_json($ev);
        my $b = b64($json);
        return $json if $b =~ /\+/ && $b =~ m{/};
    }
    die "no base64 with + and /";
}

# plain JSON

accepted('plain JSON', {
    path => '/ingest/e/', body => encode_json(event('plain')),
    headers => { 'Content-Type' => 'application/json' },
}, 'plain');

# "curl -d" labels JSON as a form: it is still JSON
accepted('plain JSON labelled application/x-www-form-urlencoded', {
    path => '/ingest/batch/', body => "\n  " . encode_json(event('curl-d')),
    headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
}, 'curl-d');

accepted('plain JSON, no Content-Type', {
    path => '/ingest/e/', body => encode_json(event('plain-noct')),
}, 'plain-noct');

# gzip

accepted('gzip, ?compression=gzip-js', {
    path => '/ingest/e/?compression=gzip-js&ip=1&_=' . time * 1000
        . '&ver=1.100.0',
    body => gzip_bytes(encode_json(event('gzip-js'))),
    headers => { 'Content-Type' => 'text/plain' },
}, 'gzip-js');

accepted('gzip, ?compression=gzip', {
    path => '/ingest/e/?compression=gzip',
    body => gzip_bytes(encode_json(event('gzip-q'))),
    headers => { 'Content-Type' => 'text/plain' },
}, 'gzip-q');

accepted('gzip, Content-Encoding: gzip', {
    path => '/ingest/batch/',
    body => gzip_bytes(encode_json({ api_key => 'phc_enc',
        batch => [ event('gzip-ce') ] })),
    headers => { 'Content-Type' => 'application/json',
        'Content-Encoding' => 'gzip' },
}, 'gzip-ce');

accepted('gzip, no hint, text/plain', {
    path => '/ingest/e/',
    body => gzip_bytes(encode_json({ api_key => 'phc_enc',
        batch => [ event('gzip-nohint'), event('gzip-nohint-2') ] })),
    headers => { 'Content-Type' => 'text/plain' },
}, 'gzip-nohint', 'gzip-nohint-2');

accepted('gzip, no hint, no Content-Type', {
    path => '/ingest/i/v0/e/',
    body => gzip_bytes(encode_json({ api_key => 'phc_enc',
        batch => [ event('gzip-noct') ] })),
}, 'gzip-noct');

# form bodies

my $form = { 'Content-Type' => 'application/x-www-form-urlencoded' };

{
    my $b = b64(json_with_plus(event('form-b64-2b')));
    accepted('form data=<base64>, + sent as %2B', {
        path => '/ingest/e/', body => 'data=' . urlencode($b),
        headers => $form,
    }, 'form-b64-2b');
}

{
    # the client's form encoding turned '+' into a space, sent as '+'
    my $b = b64(json_with_plus(event('form-b64-plus')));
    (my $sp = $b) =~ tr/+/ /;
    my $enc = urlencode($sp);
    $enc =~ s/%20/+/g;
    like($enc, qr/\+/, 'form body has literal + (spaces)');
    accepted('form data=<base64>, + became spaces (sent as +)', {
        path => '/ingest/e/', body => "data=$enc", headers => $form,
    }, 'form-b64-plus');
}

{
    # spaces sent as %20
    my $b = b64(json_with_plus(event('form-b64-20')));
    (my $sp = $b) =~ tr/+/ /;
    accepted('form data=<base64>, + became spaces (sent as %20)', {
        path => '/ingest/e/', body => 'data=' . urlencode($sp),
        headers => $form,
    }, 'form-b64-20');
}

{
    # base64 left as is: '+' unencoded decodes to a space in the form
    my $b = b64(json_with_plus(event('form-b64-raw')));
    accepted('form data=<base64> with raw + / =', {
        path => '/ingest/e/', body => "data=$b", headers => $form,
    }, 'form-b64-raw');
}

accepted('form data=<urlencoded JSON>', {
    path => '/ingest/e/',
    body => 'data=' . urlencode(encode_json(event('form-json'))),
    headers => $form,
}, 'form-json');

accepted('form ver=..&data=<base64>, Content-Type with charset', {
    path => '/ingest/e/',
    body => 'ver=1.57.2&data=' . urlencode(b64(encode_json(event('form-ver')))),
    headers => { 'Content-Type' =>
        'application/x-www-form-urlencoded;charset=UTF-8' },
}, 'form-ver');

# whole-body base64

accepted('whole-body base64, text/plain', {
    path => '/ingest/e/', body => b64(encode_json(event('b64-body'))),
    headers => { 'Content-Type' => 'text/plain' },
}, 'b64-body');

accepted('whole-body base64, ?compression=base64', {
    path => '/ingest/e/?compression=base64',
    body => b64(encode_json([ event('b64-hint') ])),
    headers => { 'Content-Type' => 'text/plain' },
}, 'b64-hint');

# the first compression hint wins: query, then form, then Content-Encoding

accepted('?compression=base64 wins over Content-Encoding: gzip', {
    path => '/ingest/e/?compression=base64',
    body => b64(encode_json(event('hint-query'))),
    headers => { 'Content-Type' => 'text/plain',
        'Content-Encoding' => 'gzip' },
}, 'hint-query');

# GET ?data=

for my $v ([ 'base64', sub { urlencode(b64($_[0])) } ],
    [ 'json', sub { urlencode($_[0]) } ])
{
    my ($kind, $enc) = @$v;
    my $name = "get-$kind";
    my $r = $t->request(path => '/ingest/e/?data='
        . $enc->(encode_json(event($name))) . '&ip=1');
    is($r->{status}, 200, "GET ?data=<$kind>: status 200");
    is($r->{body}, '{"status":"Ok"}', "GET ?data=<$kind>: body");
    my $new = new_events();
    is_deeply([ map { $_->{event} } @$new ], [$name],
        "GET ?data=<$kind>: event written");
    is($new->[0]{properties}{text}, "Zo\x{eb} \x{1F642} \x{4E2D}\x{6587}",
        "GET ?data=<$kind>: text intact") if @$new;
}

# lz64 (lz-string compressToBase64, produced by the real library)

SKIP: {
    my $lz = "$FindBin::Bin/../node_modules/lz-string";
    skip 'node or node_modules/lz-string missing', 1
        unless -d $lz && system('node -e 1 >/dev/null 2>&1') == 0;

    my $compress = sub {
        my ($text) = @_;
        my $in = $t->dir . '/lz.in';
        open my $fh, '>:raw', $in or die $!;
        print $fh $text;
        close $fh;
        my $out = `node -e 'const lz = require(process.argv[1]); process.stdout.write(lz.compressToBase64(require("fs").readFileSync(process.argv[2], "utf8")))' '$lz' '$in'`;
        die "node failed" if $? || !length $out;
        return $out;
    };

    my $lzdata = $compress->(encode_json(event('lz-form')));
    accepted('form data=<lz64>&compression=lz64', {
        path => '/ingest/e/',
        body => 'data=' . urlencode($lzdata) . '&compression=lz64',
        headers => $form,
    }, 'lz-form');

    accepted('body lz64, ?compression=lz64', {
        path => '/ingest/e/?compression=lz64',
        body => $compress->(encode_json([ event('lz-body'),
            event('lz-body-2') ])),
        headers => { 'Content-Type' => 'text/plain' },
    }, 'lz-body', 'lz-body-2');

    accepted('body lz64, ?compression=lz-string', {
        path => '/ingest/e/?compression=lz-string',
        body => $compress->(encode_json(event('lz-string'))),
        headers => { 'Content-Type' => 'text/plain' },
    }, 'lz-string');
}

# shapes

accepted('single event', {
    path => '/ingest/capture/', body => encode_json(event('shape-single')),
}, 'shape-single');

my $arr = accepted('array of events', {
    path => '/ingest/e/',
    body => encode_json([ map { event("shape-array-$_") } 1 .. 3 ]),
}, map { "shape-array-$_" } 1 .. 3);

my $batch = accepted('batch object', {
    path => '/ingest/batch/',
    body => encode_json({ api_key => 'phc_enc',
        sent_at => '2024-05-06T07:08:09.010Z',
        batch => [ map { event("shape-batch-$_") } 1 .. 2 ] }),
}, map { "shape-batch-$_" } 1 .. 2);

for my $ev (@$arr, @$batch) {
    ok(JSON::PP::is_bool($ev->{historical_migration})
        && !$ev->{historical_migration},
        "$ev->{event}: historical_migration false");
}
is($batch->[0]{sent_at}, '2024-05-06T07:08:09.010Z', 'batch: sent_at kept')
    if @$batch;

my $hist = accepted('batch object, historical_migration true', {
    path => '/ingest/batch/',
    body => encode_json({ api_key => 'phc_enc', historical_migration =>
        JSON::PP::true, batch => [ map { event("shape-hist-$_") } 1 .. 2 ] }),
}, map { "shape-hist-$_" } 1 .. 2);

for my $ev (@$hist) {
    ok(JSON::PP::is_bool($ev->{historical_migration})
        && $ev->{historical_migration},
        "$ev->{event}: historical_migration true");
}

accepted('batch object with "token"', {
    path => '/ingest/batch/',
    body => encode_json({ token => 'phc_enc',
        batch => [ event('shape-token') ] }),
}, 'shape-token');

# a client that left the base64's "+" unescaped: they arrive as spaces,
# and with no compression hint the value is still read as base64
{
    my $json = json_with_plus(event('form-spaces-nohint'));
    (my $spaced = b64($json)) =~ tr/+/ /;
    accepted('form data=<base64 with spaces>, no hint', {
        path => '/ingest/e/',
        body => 'data=' . urlencode($spaced),
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    }, 'form-spaces-nohint');
}

$t->done;
done_testing;
