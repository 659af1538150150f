#!/usr/bin/perl
# The webhook destination: canonical records to any URL, as a JSON array
# (body batch, the default) or one per request (body event), with the
# configured method and headers; header values never reach the log.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use StandIn;

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $t = CaptureTest->new;
my $batch = StandIn->new(dir => $t->dir);
my $single = StandIn->new(dir => $t->dir);

my ($burl, $surl) = ($batch->url, $single->url);

$t->write_conf(<<"EOF");
capture_destination local { type file; path %%DIR%%/events.jsonl; }

capture_destination hooks {
    type     webhook;
    url      $burl/hooks/events?src=edge;
    headers  "Authorization: Bearer s3cret-token" "X-Source: edge";
    flush_interval 100ms;
}

capture_destination each {
    type     webhook;
    url      $surl/one;
    method   PUT;
    body     event;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture local hooks each; }
}
EOF
$t->start;

my @uuids = map { sprintf '0193a5d2-7b4e-7c1a-9f3e-%012d', $_ } 1 .. 3;

my $r = $t->request(method => 'POST', path => '/ingest/batch/',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ api_key => 'phc_hook', batch => [
        map { { uuid => $uuids[$_], event => "hook $_", distinct_id => 'u',
                properties => { n => $_ } } } 0 .. 2 ] }));
is($r->{status}, 200, 'three events accepted');

my $records = $t->events('events.jsonl');

# body batch: one request, a JSON array of the canonical records

my $b = $batch->wait_requests(1, 10);
is($b->[0]{method}, 'POST', 'batch: POST by default');
is($b->[0]{path}, '/hooks/events', 'batch: the path');
is($b->[0]{query}, 'src=edge', 'batch: the query string kept');
is($b->[0]{headers}{authorization}, 'Bearer s3cret-token',
    'batch: the configured Authorization header');
is($b->[0]{headers}{'x-source'}, 'edge', 'batch: the configured X-Source');
is($b->[0]{headers}{'content-type'}, 'application/json',
    'batch: Content-Type');
is(ref $b->[0]{json}, 'ARRAY', 'batch: a JSON array');
is_deeply($b->[0]{json}, $records,
    'batch: exactly the canonical records the file has');
is_deeply([ map { $_->{uuid} } @{$b->[0]{json}} ], \@uuids,
    'batch: the uuids, in order');

# body event: one request a record, PUT

my $s = $single->wait_requests(3, 10);
is(scalar @$s, 3, 'event: three requests');
is_deeply([ map { $_->{method} } @$s ], [ ('PUT') x 3 ], 'event: PUT');
is_deeply([ sort map { $_->{json}{uuid} } @$s ], \@uuids,
    'event: one record each');
is(ref $s->[0]{json}, 'HASH', 'event: an object, not an array');

# a refusal is logged with the answer, never with a header's value

$batch->mode('status', code => 403, body => 'forbidden here', count => 1);

$r = $t->request(method => 'POST', path => '/ingest/e/',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ api_key => 'phc_hook', event => 'refused',
        distinct_id => 'u' }));
is($r->{status}, 200, 'another event accepted');

$batch->wait_requests(2, 10);

my $deadline = time + 5;
sleep 1 until $t->error_log =~ /refused with 403/ || time > $deadline;

like($t->error_log, qr/capture destination "hooks": 1 events refused with 403/,
    'the refusal is logged');
unlike($t->error_log, qr/s3cret-token/, 'the header value is not logged');

# configuration errors

for my $case (
    [ 'no url', 'type webhook;', qr/of type "webhook" has no "url"/ ],
    [ 'bad method', 'type webhook; url http://127.0.0.1:9/; method GET;',
      qr/invalid "method"/ ],
    [ 'bad body', 'type webhook; url http://127.0.0.1:9/; body lines;',
      qr/invalid "body"/ ],
    [ 'bad header', 'type webhook; url http://127.0.0.1:9/; '
      . 'headers "no colon secret";', qr/invalid header 1 in "headers"/ ],
) {
    my ($name, $block, $re) = @$case;
    my $c = CaptureTest->new;
    $c->write_conf("capture_destination d { $block }\n"
        . "server { listen 127.0.0.1:%%PORT%%; "
        . "location / { capture d; } }\n");
    my ($ok, $out) = $c->conf_test;
    ok(!$ok, "$name: nginx -t fails");
    like($out, $re, "$name: the reason");
    like($out, qr/nginx\.conf:\d+/, "$name: the file and line");
    unlike($out, qr/secret/, "$name: no header value quoted")
        if $name eq 'bad header';
}

$t->done;
done_testing;
