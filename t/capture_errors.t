#!/usr/bin/perl
# Rejected requests: status (400, 401, 413), a plain-text reason, nothing
# written, and one info line in error.log naming the reason.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json gzip_bytes b64);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

my $t = CaptureTest->new;
$t->write_conf(<<'EOF', log_level => 'info');
capture_destination local { type file; path %%DIR%%/events.jsonl; }

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture local;
        capture_fallback @posthog;
    }

    location /allow/ {
        capture local;
        capture_tokens phc_abc phc_def;
    }

    location /small/ {
        capture local;
        capture_max_decoded_size 2k;
        capture_max_event_size 1k;
        client_max_body_size 1m;
    }

    location @posthog {
        return 200 "fallback $uri\n";
    }
}
EOF
$t->start;

my $written = 0;

sub ev {
    my (%e) = @_;
    my %ev = (event => 'err test', distinct_id => 'u1',
        properties => { token => 'phc_abc' }, %e);
    delete @ev{ grep { !defined $ev{$_} } keys %ev };
    return \%ev;
}

sub log_lines {
    return split /\n/, $t->error_log;
}

# one rejected request: status, body keywords, nothing written, and one
# info line in error.log with "capture" and the log keyword
sub rejected {
    my ($name, $status, $body_re, $log_re, %req) = @_;
    my $before = () = log_lines();

    my $r = $t->request(method => 'POST', path => '/ingest/e/', %req);

    is($r->{status}, $status, "$name: status $status")
        or diag explain $r;
    like($r->{body}, $body_re, "$name: reason in body");
    like($r->{headers}{'content-type'} // '', qr{^text/plain},
        "$name: plain-text body");
    is(scalar @{$t->events('events.jsonl')}, $written,
        "$name: nothing written");

    my @all = log_lines();
    my @new = @all[$before .. $#all];
    my @cap = grep { /\[info\]/ && /capture/i } @new;
    is(scalar @cap, 1, "$name: logged once at info level")
        or diag join "\n", @new;
    like($cap[0] // '', $log_re, "$name: reason in the log line");
}

sub json_req {
    my ($data, %r) = @_;
    return (body => ref $data ? encode_json($data) : $data,
        headers => { 'Content-Type' => 'application/json' }, %r);
}

# 400: undecodable, unparsable

rejected('gzip hint, not gzip', 400, qr/failed to decode request/,
    qr/decode/, path => '/ingest/e/?compression=gzip-js',
    body => 'this is not gzip', headers => { 'Content-Type' => 'text/plain' });

rejected('Content-Encoding gzip, not gzip', 400,
    qr/failed to decode request/, qr/decode/,
    body => '{"event":"x","distinct_id":"u","token":"phc_abc"}',
    headers => { 'Content-Encoding' => 'gzip',
        'Content-Type' => 'application/json' });

{
    my $gz = gzip_bytes(encode_json(ev()));
    rejected('truncated gzip', 400, qr/failed to decode request/,
        qr/decode/, body => substr($gz, 0, length($gz) - 12),
        headers => { 'Content-Type' => 'text/plain' });
}

rejected('base64 hint, not base64', 400, qr/failed to decode request/,
    qr/decode/, path => '/ingest/e/?compression=base64',
    body => '!!!! not base64 ####', headers => { 'Content-Type' => 'text/plain' });

rejected('bad JSON', 400, qr/failed to parse request/, qr/parse/,
    json_req('{"event": "x", "distinct_id": '));

rejected('JSON with trailing garbage', 400, qr/failed to parse request/,
    qr/parse/, json_req('{"event":"x","distinct_id":"u","token":"phc_abc"} x'));

rejected('invalid UTF-8', 400, qr/failed to (decode|parse) request/,
    qr/decode|parse/,
    json_req(qq({"event":"x\xff\xfe","distinct_id":"u","token":"phc_abc"})));

rejected('empty body', 400, qr/\S/, qr/capture/i, body => '');

rejected('empty array', 400, qr/event/i, qr/event/i, json_req([]));

rejected('empty batch', 400, qr/event/i, qr/event/i,
    json_req({ api_key => 'phc_abc', batch => [] }));

rejected('not an object', 400, qr/\S/, qr/capture/i, json_req('"hello"'));

# 400: event fields

rejected('no event name', 400, qr/event/i, qr/event/i,
    json_req(ev(event => undef)));

rejected('empty event name', 400, qr/event/i, qr/event/i,
    json_req(ev(event => '')));

rejected('event name not a string', 400, qr/event/i, qr/event/i,
    json_req(ev(event => 42)));

rejected('missing distinct_id', 400,
    qr/event submitted without a distinct_id/, qr/distinct_id/,
    json_req(ev(distinct_id => undef)));

rejected('one event of a batch without distinct_id', 400,
    qr/event submitted without a distinct_id/, qr/distinct_id/,
    json_req({ api_key => 'phc_abc',
        batch => [ ev(), ev(distinct_id => undef), ev() ] }));

rejected('invalid uuid', 400, qr/uuid/i, qr/uuid/i,
    json_req(ev(uuid => 'not-a-uuid')));

rejected('uuid with a bad digit', 400, qr/uuid/i, qr/uuid/i,
    json_req(ev(uuid => '0189a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g')));

rejected('invalid timestamp', 400, qr/timestamp/i, qr/timestamp/i,
    json_req(ev(timestamp => 'yesterday')));

rejected('timestamp with a bad date', 400, qr/timestamp/i, qr/timestamp/i,
    json_req(ev(timestamp => '2024-13-45T25:61:00.000Z')));

# 400: /s session id

sub snap {
    my ($sid) = @_;
    my %p = (token => 'phc_abc', '$snapshot_data' => [ { type => 2 } ]);
    $p{'$session_id'} = $sid if defined $sid;
    return [ { event => '$snapshot', distinct_id => 'u1', properties => \%p } ];
}

rejected('/s without $session_id', 400, qr/session/i, qr/session/i,
    path => '/ingest/s/', json_req(snap(undef)));

rejected('/s with a bad $session_id', 400, qr/session/i, qr/session/i,
    path => '/ingest/s/', json_req(snap('bad id!')));

rejected('/s with a 71-character $session_id', 400, qr/session/i,
    qr/session/i, path => '/ingest/s/', json_req(snap('a' x 71)));

# 401: tokens

rejected('no token', 401, qr/event submitted without an api_key/,
    qr/api_key/, json_req(ev(properties => {})));

rejected('inconsistent tokens', 401,
    qr/batch submitted with inconsistent api_key values/, qr/inconsistent/,
    json_req([ ev(token => 'phc_abc', properties => {}),
        ev(token => 'phc_def', properties => {}) ]));

rejected('token of 65 bytes', 401, qr/token|api_key/i, qr/token|api_key/i,
    json_req(ev(properties => { token => 'phc_' . 'a' x 61 })));

rejected('non-ASCII token', 401, qr/token|api_key/i, qr/token|api_key/i,
    json_req(ev(properties => { token => "phc_\x{e9}t\x{e9}" })));

rejected('personal api key (phx_)', 401, qr/token|api_key/i,
    qr/token|api_key/i, json_req(ev(token => 'phx_personal')));

rejected('token with NUL', 401, qr/token|api_key/i, qr/token|api_key/i,
    json_req('{"event":"x","distinct_id":"u","token":"phc_a\u0000b"}'));

rejected('token not in capture_tokens', 401, qr/token|api_key/i,
    qr/token|api_key/i, path => '/allow/e/',
    json_req(ev(properties => { token => 'phc_zzz' })));

# accepted boundary cases

sub accepted {
    my ($name, $count, %req) = @_;
    my $r = $t->request(method => 'POST', %req);
    is($r->{status}, 200, "$name: accepted") or diag explain $r;
    $written += $count;
    is(scalar @{$t->events('events.jsonl')}, $written,
        "$name: $count written");
}

accepted('token of 64 bytes', 1, path => '/ingest/e/',
    json_req(ev(properties => { token => 'phc_' . 'a' x 60 })));

accepted('listed token phc_def', 1, path => '/allow/e/',
    json_req(ev(properties => { token => 'phc_def' })));

accepted('listed token phc_abc', 1, path => '/allow/batch/',
    json_req({ api_key => 'phc_abc', batch => [ ev() ] }));

# 413: limits

rejected('decoded payload over capture_max_decoded_size', 413,
    qr/size|large|exceed/i, qr/size|large|exceed/i, path => '/small/e/',
    json_req(ev(properties => { token => 'phc_abc', pad => 'x' x 3000 })));

rejected('gzip payload decoding over capture_max_decoded_size', 413,
    qr/size|large|exceed/i, qr/size|large|exceed/i, path => '/small/e/',
    body => gzip_bytes(encode_json(ev(properties => { token => 'phc_abc',
        pad => 'x' x 100000 }))),
    headers => { 'Content-Type' => 'text/plain' });

rejected('one event over capture_max_event_size', 413,
    qr/size|large|exceed/i, qr/size|large|exceed/i, path => '/small/batch/',
    json_req({ api_key => 'phc_abc', batch => [ ev(),
        ev(properties => { pad => 'y' x 1200 }) ] }));

accepted('events under both limits', 3, path => '/small/batch/',
    json_req({ api_key => 'phc_abc', batch => [ ev(), ev(),
        ev(properties => { pad => 'z' x 400 }) ] }));

$t->done;
done_testing;
