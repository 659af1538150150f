#!/usr/bin/perl
# Which paths and methods the capture endpoint answers, the success answers
# (200 {"status":"Ok"}, 204 with beacon=1), /engage and /s, and what goes to
# capture_fallback (or 404 without one).

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json urlencode b64);

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

    location /nofb/ {
        capture local;
    }

    location /urifb/ {
        capture local;
        capture_fallback /stand-in/;
    }

    location /stand-in/ {
        return 200 "uri fallback $uri\n";
    }

    location @posthog {
        return 200 "fallback $request_method $uri\n";
    }
}
EOF
$t->start;

my $n = 0;

sub event {
    my (%e) = @_;
    return {
        event       => 'paths test',
        distinct_id => 'user-1',
        properties  => { token => 'phc_paths' },
        %e,
    };
}

sub post {
    my ($path, $data, %r) = @_;
    return $t->request(method => 'POST', path => $path,
        headers => { 'Content-Type' => 'application/json' },
        body => ref $data ? encode_json($data) : $data, %r);
}

sub is_ok {
    my ($r, $name) = @_;
    my $ok = is($r->{status}, 200, "$name: status 200");
    $ok &&= is($r->{body}, '{"status":"Ok"}', "$name: body");
    $ok &&= like($r->{headers}{'content-type'} // '',
        qr{^application/json(\s*;.*)?$}, "$name: Content-Type");
    diag explain $r unless $ok;
    return $ok;
}

# every capture path, with and without the trailing slash

for my $p (qw(e i/v0/e batch capture track engage)) {
    for my $slash ('', '/') {
        my $path = "/ingest/$p$slash";
        my $r = post($path, event(event => "ev $path"));
        is_ok($r, "POST $path");
        $n++;
    }
}

for my $slash ('', '/') {
    my $path = "/ingest/s$slash";
    my $r = post($path, [ event(event => "\$snapshot",
        properties => { token => 'phc_paths', '$session_id' => 'sess-1',
            '$snapshot_data' => [ { type => 2, data => {} } ] }) ]);
    is_ok($r, "POST $path");
    $n++;
}

my $ev = $t->events('events.jsonl');
is(scalar @$ev, $n, "one line per event ($n)");

my %names = map { $_->{event} => 1 } @$ev;
for my $p (qw(e i/v0/e batch capture track engage)) {
    for my $slash ('', '/') {
        ok($names{"ev /ingest/$p$slash"}, "event of /ingest/$p$slash written");
    }
}
is(scalar(grep { $_->{event} eq '$snapshot' } @$ev), 2,
    'two $snapshot events from /s');

# GET with the payload in ?data=

{
    my $data = urlencode(b64(encode_json(event(event => 'get event'))));
    my $r = $t->request(path => "/ingest/e/?data=$data");
    is_ok($r, 'GET /ingest/e/?data=');
    $n++;
    $ev = $t->events('events.jsonl');
    is($ev->[-1]{event}, 'get event', 'GET event written');
}

# beacon=1 -> 204, empty body

{
    my $r = post('/ingest/e/?beacon=1', event(event => 'beacon event'));
    is($r->{status}, 204, 'beacon=1: status 204');
    is($r->{body}, '', 'beacon=1: empty body');
    $n++;
    $ev = $t->events('events.jsonl');
    is($ev->[-1]{event}, 'beacon event', 'beacon event written');
}

{
    my $r = post('/ingest/e/?beacon=1', '{"event": broken');
    is($r->{status}, 400, 'beacon=1 does not hide an error');
}

# /engage without "event" becomes $identify

{
    my $r = post('/ingest/engage/', {
        '$token' => 'phc_paths', '$distinct_id' => 'engaged-user',
        '$set' => { plan => 'pro' },
    });
    is_ok($r, 'POST /engage without event');
    $n++;
    $ev = $t->events('events.jsonl');
    is($ev->[-1]{event}, '$identify', '/engage without event: $identify');
    is($ev->[-1]{distinct_id}, 'engaged-user', '/engage: $distinct_id');
    is_deeply($ev->[-1]{properties}{'$set'}, { plan => 'pro' },
        '/engage: $set folded into properties');
}

# other methods

for my $m (qw(PUT DELETE PATCH)) {
    my $r = $t->request(method => $m, path => '/ingest/e/',
        body => encode_json(event()));
    is($r->{status}, 405, "$m /ingest/e/: 405");
}

is(scalar @{$t->events('events.jsonl')}, $n, 'nothing written by 405');

# non-capture paths go to the fallback, untouched

for my $p ('flags/?v=2', 'decide/?v=3', 'array/phc_paths/config',
    'array/phc_paths/config.js', 'static/array.js', 'api/surveys/',
    'i/v1/logs', 'ee', 'e/x', 'batchx/', 'i/v0/ee', 's/x', '')
{
    my $uri = "/ingest/$p";
    (my $path = $uri) =~ s/\?.*//;
    for my $m ('GET', 'POST') {
        my $r = $t->request(method => $m, path => $uri,
            $m eq 'POST' ? (body => '{"token":"phc_paths"}') : ());
        is($r->{status}, 200, "$m $uri: fallback status");
        is($r->{body}, "fallback $m $path\n", "$m $uri: fallback body");
    }
}

is(scalar @{$t->events('events.jsonl')}, $n, 'nothing written by fallback');

# no capture_fallback: 404

for my $p ('flags/', 'static/array.js', 'ee') {
    my $r = $t->request(path => "/nofb/$p");
    is($r->{status}, 404, "/nofb/$p without fallback: 404");
}
is_ok(post('/nofb/e/', event(event => 'nofb')), 'capture works without fallback');
$n++;

# capture_fallback with a URI

{
    my $r = $t->request(path => '/urifb/flags/');
    is($r->{status}, 200, 'URI fallback: status');
    like($r->{body}, qr{^uri fallback /stand-in/}, 'URI fallback: body');
    is_ok(post('/urifb/e/', event(event => 'urifb')),
        'capture works with a URI fallback');
    $n++;
}

is(scalar @{$t->events('events.jsonl')}, $n, "$n events in all");

$t->done;
done_testing;
