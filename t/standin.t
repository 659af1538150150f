#!/usr/bin/perl
# The stand-in destination server (t/lib/standin.mjs through
# t/lib/StandIn.pm) tested for real: what it records, each way it
# misbehaves, TLS.  Needs node, openssl and curl; not the nginx module.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json gzip_bytes);
use StandIn;

use HTTP::Tiny;
use IO::Select;
use IO::Socket::IP;
use MIME::Base64 qw(decode_base64);
use MIME::Base64 ();
use Time::HiRes qw(time);

my $t = CaptureTest->new;     # only for its directory (CAPTURE_KEEP=1 keeps it)
my $s = StandIn->new(dir => $t->dir);
my $url = $s->url;
my $http = HTTP::Tiny->new(timeout => 5);

like($url, qr{^http://127\.0\.0\.1:\d+$}, "url $url");
is($url, 'http://127.0.0.1:' . $s->port, 'url has the port');
ok($s->pid && kill(0, $s->pid), 'the server runs');
is_deeply($s->requests, [], 'nothing recorded at start: control traffic is not served traffic');

sub post {
    my ($path, $body, %headers) = @_;
    return $http->post("$url$path", { content => $body, headers => {
        'content-type' => 'application/json', %headers } });
}

# a raw connection, for keep-alive and for answers that never come
sub connect_raw {
    return IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $s->port,
                               Proto => 'tcp', Timeout => 2);
}

# reads one response (Content-Length bodies only) or what came before
# EOF / the timeout: (status or undef, headers, body, raw)
sub read_response {
    my ($sock, $timeout) = @_;
    my ($raw, $sel, $deadline) = ('', IO::Select->new($sock), time + ($timeout // 5));
    for (;;) {
        if ((my $end = index $raw, "\r\n\r\n") >= 0) {
            my $len = $raw =~ /\r\ncontent-length:\s*(\d+)/i ? $1 : 0;
            last if length($raw) >= $end + 4 + $len;
        }
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $sock, $raw, 65536, length $raw;
        last unless $n;
    }
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my $status = ($head // '') =~ m{^HTTP/1\.1 (\d{3})} ? $1 : undef;
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    return ($status, \%h, $body // '', $raw);
}

sub eof_within {
    my ($sock, $secs) = @_;
    return 0 unless IO::Select->new($sock)->can_read($secs);
    my $n = sysread $sock, my $buf, 1;
    return defined $n && $n == 0 ? 1 : 0;
}


# --- ok: headers, a gzip JSON body decoded ---
{
    my $json = encode_json({ api_key => 'phc_one', batch => [
        { event => 'e1', distinct_id => 'u1', properties => { 'x' => "caf\x{e9}" } } ] });
    my $gz = gzip_bytes($json);
    my $t0 = int(time * 1000);
    my $res = post('/batch/?v=3', $gz, 'content-encoding' => 'gzip', 'x-test' => 'one');
    is($res->{status}, 200, 'ok: 200');
    is($res->{content}, '{"status":"Ok"}', 'ok: body {"status":"Ok"}');
    like($res->{headers}{'content-type'}, qr{^application/json}, 'ok: JSON answer');

    my $r = $s->wait_requests(1, 5)->[0];
    is($r->{method}, 'POST', 'method');
    is($r->{path}, '/batch/', 'path');
    is($r->{query}, 'v=3', 'query');
    is($r->{headers}{'x-test'}, 'one', 'headers by lowercase name');
    is($r->{headers}{'content-encoding'}, 'gzip', 'content-encoding recorded');
    is(decode_base64($r->{body_raw_b64}), $gz, 'body_raw_b64 is the gzip bytes as sent');
    is($r->{body}, $json, 'body gunzipped');
    is($r->{json}{batch}[0]{properties}{x}, "caf\x{e9}", 'json parsed (UTF-8)');
    is($r->{status}, 200, 'status 200 recorded');
    ok($r->{t_ms} >= $t0 - 5 && $r->{t_ms} <= time * 1000 + 5, 't_ms is the arrival time');
}

# --- a broken gzip body ---
{
    my $res = post('/batch/', "\x1f\x8b\x08 not gzip at all", 'content-encoding' => 'gzip');
    is($res->{status}, 400, 'broken gzip: 400');
    my $r = $s->wait_requests(2, 5)->[1];
    ok(!defined $r->{body} && !defined $r->{json}, 'broken gzip: body and json undef');
    like($r->{error} // '', qr/gzip/, "broken gzip: error recorded ($r->{error})");
    is($r->{status}, 400, 'broken gzip: status 400 recorded');
}

# --- keep-alive: two requests on one connection, Content-Length then chunked ---
{
    my $c = connect_raw() or die "connect: $!";
    syswrite $c, "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    my ($st1) = read_response($c);
    syswrite $c, "POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n";
    my ($st2) = read_response($c);
    is("$st1 $st2", '200 200', 'keep-alive: both answered on one connection');
    my @r = @{$s->wait_requests(4, 5)}[2, 3];
    is_deeply([map { $_->{path} } @r], ['/one', '/two'], 'keep-alive: both recorded, in order');
    is($r[0]{conn}, $r[1]{conn}, 'keep-alive: same connection number');
    is($r[1]{body}, '[1,2]', 'chunked body joined');
    is_deeply($r[1]{json}, [1, 2], 'chunked body parsed');
    is($r[1]{headers}{'transfer-encoding'}, 'chunked', 'transfer-encoding recorded');
    close $c;
}

$s->reset;
is_deeply($s->requests, [], 'reset forgets the requests');

# --- status 500 for two requests, then ok ---
{
    $s->mode('status', code => 500, body => '{"error":"boom"}', count => 2);
    my @res = map { post("/batch/$_", '{}') } 1 .. 3;
    is_deeply([map { $_->{status} } @res], [500, 500, 200], 'status count 2: 500, 500, then 200');
    is($res[0]{content}, '{"error":"boom"}', 'status: the given body');
    ok(!exists $res[0]{headers}{'retry-after'}, 'no Retry-After unless asked');
    is_deeply([map { $_->{status} } @{$s->wait_requests(3, 5)}], [500, 500, 200],
              'statuses recorded');
    is_deeply([map { $_->{path} } @{$s->requests}], ['/batch/1', '/batch/2', '/batch/3'],
              'recorded after reset, in order');
}

# --- 429 with Retry-After, for every request until the mode changes ---
{
    $s->mode('status', code => 429, retry_after => 3);
    my @res = map { post('/batch/', '{}') } 1 .. 2;
    is_deeply([map { $_->{status} } @res], [429, 429], '429 without count: every request');
    is($res[1]{headers}{'retry-after'}, '3', 'Retry-After: 3');
    $s->mode('ok');
    is(post('/batch/', '{}')->{status}, 200, 'mode ok again: 200');
}

# --- count works for any mode: close the first, then ok ---
{
    $s->mode('close', count => 1);
    my $res = post('/batch/', '{}');
    is($res->{status}, 599, 'close with count 1: the first gets no answer');
    is(post('/batch/', '{}')->{status}, 200, '... the next 200');
}

# --- hang: read, never answer ---
{
    $s->reset;
    $s->mode('hang');
    my $t0 = time;
    my $res = HTTP::Tiny->new(timeout => 1)->post("$url/batch/", { content => '{"h":1}' });
    my $took = time - $t0;
    is($res->{status}, 599, 'hang: no answer within a 1 s timeout');
    like($res->{content}, qr/timed out/i, "hang: the client timed out");
    cmp_ok($took, '>=', 0.9, sprintf('hang: waited the timeout (%.2f s)', $took));
    my $r = $s->wait_requests(1, 5)->[0];
    is_deeply($r->{json}, { h => 1 }, 'hang: the request is recorded');
    ok(!defined $r->{status}, 'hang: status undef');

    # a hung connection stays open after the mode changes
    my $c = connect_raw();
    syswrite $c, "POST /h2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    $s->wait_requests(2, 5);
    $s->mode('ok');
    ok(!IO::Select->new($c)->can_read(0.3), 'hang: still no answer nor EOF after mode ok');
    is(post('/batch/', '{}')->{status}, 200, 'hang: new requests answered after mode ok');
    close $c;
}

# --- close: read, then drop the connection ---
{
    $s->reset;
    $s->mode('close');
    my $c = connect_raw();
    syswrite $c, "POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    my ($status, undef, undef, $raw) = read_response($c, 3);
    ok(!defined $status && $raw eq '', 'close: connection closed, not a byte answered');
    my $r = $s->wait_requests(1, 5)->[0];
    ok($r->{closed} && !defined $r->{status}, 'close: recorded, no status');
    close $c;
}

# --- a client that leaves in the middle of its body: still recorded ---
{
    $s->reset;
    my $c = connect_raw();
    syswrite $c, "POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\"";
    close $c;
    my $r = $s->wait_requests(1, 5)->[0];
    ok($r->{incomplete} && $r->{body} eq '{"a"' && !defined $r->{status},
       'cut short: recorded as incomplete with the part of the body that came');
}

# --- slow: 200 after the delay ---
{
    $s->reset;
    $s->mode('slow', delay_ms => 700);
    my $t0 = time;
    my $res = post('/batch/', '{}');
    my $took = time - $t0;
    is($res->{status}, 200, 'slow: 200');
    cmp_ok($took, '>=', 0.7, sprintf('slow: after the delay (%.2f s)', $took));
    my $r = $s->wait_requests(1, 5)->[0];
    is($r->{status}, 200, 'slow: status recorded once answered');
    cmp_ok($r->{t_answer_ms} - $r->{t_ms}, '>=', 700, 'slow: t_answer_ms - t_ms >= delay');
    $s->mode('ok');
}

# --- refuse, then accept on the same port ---
{
    my $idle = connect_raw();
    syswrite $idle, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n";
    my ($st) = read_response($idle);
    is($st, 200, 'refuse: a keep-alive connection first');

    $s->refuse;
    my $c = connect_raw();
    ok(!$c, "refuse: connect fails ($!)");
    ok(eof_within($idle, 2), 'refuse: open connections are closed too');

    $s->accept;
    my $res = post('/batch/', '{}');
    is($res->{status}, 200, 'accept: answered again on port ' . $s->port);
    is($s->url, $url, 'accept: same url');
}

# --- events(): the batches answered 2xx, flattened, with their api_key ---
{
    $s->reset;
    post('/batch/', encode_json({ api_key => 'phc_a', batch => [
        { event => 'a1' }, { event => 'a2' } ] }));
    $s->mode('status', code => 503, count => 1);
    post('/batch/', encode_json({ api_key => 'phc_x', batch => [ { event => 'rejected' } ] }));
    post('/batch/', gzip_bytes(encode_json({ api_key => 'phc_b', batch => [ { event => 'b1' } ] })),
         'content-encoding' => 'gzip');
    post('/e/', encode_json({ event => 'not a batch' }));
    my $ev = $s->wait_events(3, 5);
    is_deeply([map { "$_->{event}/$_->{_api_key}" } @$ev], ['a1/phc_a', 'a2/phc_a', 'b1/phc_b'],
              'events: 2xx batches only, in order, with _api_key');
    is(scalar @{$s->requests}, 4, 'events: all four requests recorded');
}

# --- errors are clear ---
{
    my $t0 = time;
    eval { $s->wait_requests(99, 0.3) };
    like($@, qr/waited 0\.3 s for 99 requests.*got 4/s, 'wait_requests croaks on timeout');
    cmp_ok(time - $t0, '<', 2, 'wait_requests: after its timeout');
    eval { $s->mode('teapot') };
    like($@, qr/unknown mode 'teapot'/, 'unknown mode');
    eval { $s->mode('hang', delay_ms => 1) };
    like($@, qr/takes no option 'delay_ms'/, 'unknown option');
    eval { $s->mode('status') };
    like($@, qr/status needs code/, 'status without code');
    is(post('/batch/', '{}')->{status}, 200, 'a refused mode change leaves the mode as it was');
}

# --- TLS: a CA of its own, HTTP/1.1 by ALPN ---
SKIP: {
    skip 'curl is not installed', 8 unless grep { -x "$_/curl" } split /:/, $ENV{PATH} // '';
    my $tls = StandIn->new(dir => $t->dir, tls => 1);
    my $ca = $tls->ca_file;
    like($tls->url, qr{^https://127\.0\.0\.1:\d+$}, 'tls: https url');
    ok(-s $ca && do { open my $f, '<', $ca; local $/; <$f> =~ /BEGIN CERTIFICATE/ },
       'tls: ca_file is a PEM certificate');

    my $curl = sub {
        my (@args) = @_;
        open my $fh, '-|', 'curl', '-sS', '--stderr', $t->dir . '/curl.err',
            '--max-time', '5', '-o', '/dev/null',
            '-w', '%{http_code} %{http_version}', @args or die "curl: $!";
        my $out = do { local $/; <$fh> } // '';
        close $fh;
        return ($? >> 8, $out);
    };
    my $body = encode_json({ api_key => 'phc_tls', batch => [ { event => 'secure' } ] });
    my ($rc, $out) = $curl->('--cacert', $ca, '--http2', '-H', 'Content-Type: application/json',
                             '--data-binary', $body, $tls->url . '/batch/');
    is("$rc $out", '0 200 1.1', 'tls: curl --cacert verifies, 200, HTTP/1.1 though h2 offered');
    ($rc, $out) = $curl->('--cacert', $ca, 'https://localhost:' . $tls->port . '/batch/');
    is("$rc $out", '0 200 1.1', 'tls: the certificate is good for localhost too');
    ($rc) = $curl->($tls->url . '/batch/');
    is($rc, 60, 'tls: without --cacert curl fails verification (exit 60)');

    my $r = $tls->wait_requests(2, 5);
    is(scalar @$r, 2, 'tls: the verified requests recorded (not the failed handshake)');
    ok($r->[0]{tls} && ($r->[0]{alpn} // '') eq 'http/1.1', 'tls: recorded as TLS, ALPN http/1.1');
    is_deeply($tls->events, [ { event => 'secure', _api_key => 'phc_tls' } ], 'tls: events');
    $tls->stop;
}

# --- spec profiles: the validator catches what breaks the rules ---
{
    eval { StandIn->new(dir => $t->dir, spec => 'mixpanel') };
    like($@, qr/unknown spec 'mixpanel'/, 'spec: an unknown profile is refused');
    eval { $s->violations };
    like($@, qr/violations needs a spec/, 'spec: violations() needs one');
    ok(!exists $s->requests->[0]{violations}, 'spec: none, no violations recorded');
}

# a Segment-spec message of each type, good
sub spec_msgs {
    my ($ts) = ('2024-05-06T07:08:09.123Z');
    my %c = (messageId => 'm-' . int(rand 1e9), timestamp => $ts,
             context => { ip => '192.0.2.1', library => { name => 'x', version => '1.0' } });
    return (
        { %c, type => 'track', userId => 'u1', event => 'Order Completed', properties => { n => 1 } },
        { %c, type => 'identify', userId => 'u1', anonymousId => 'a1', traits => { plan => 'pro' } },
        { %c, type => 'page', anonymousId => 'a1', name => 'Home', properties => { path => '/' } },
        { %c, type => 'screen', userId => 'u1', name => 'Settings', properties => {} },
        { %c, type => 'group', userId => 'u1', groupId => 'acme', traits => { name => 'Acme' } },
        { %c, type => 'alias', userId => 'u1', previousId => 'a1' },
    );
}

# a fresh good track
sub spec_track { (spec_msgs())[0] }

# the violations of the last request, and its answer
sub spec_post {
    my ($sp, $path, $body, %headers) = @_;
    my $n = @{$sp->requests};
    my $res = $http->post($sp->url . $path, { content => $body, headers => {
        'content-type' => 'application/json', %headers } });
    my $r = $sp->wait_requests($n + 1, 5)->[$n];
    return ($res, $r->{violations}, $r);
}

sub has_violation {
    my ($v, $re, $name) = @_;
    ok((grep { $_ =~ $re } @{$v // []}), $name) or diag explain $v;
}

{
    my $seg = StandIn->new(dir => $t->dir, spec => 'segment', write_key => 'seg_key');
    is($seg->spec, 'segment', 'segment: spec');
    my $auth = 'Basic ' . MIME::Base64::encode_base64('seg_key:', '');

    # every type, good: 200 {"success":true}, no violation
    my ($res, $v, $r) = spec_post($seg, '/v1/batch',
        encode_json({ batch => [spec_msgs()], sentAt => '2024-05-06T07:08:10.000Z' }),
        authorization => $auth);
    is($res->{status}, 200, 'segment: a good batch: 200');
    is($res->{content}, '{"success":true}', 'segment: {"success":true}');
    is_deeply($v, [], 'segment: a good batch of every type: no violation');
    is($r->{spec}, 'segment', 'segment: the request records its spec');
    is(scalar @{$seg->messages}, 6, 'segment: messages() has the six');

    # writeKey in the body instead of the header, as Segment takes it
    ($res, $v) = spec_post($seg, '/v1/batch',
        encode_json({ batch => [spec_track()], writeKey => 'seg_key' }));
    is_deeply($v, [], 'segment: writeKey in the body and no header: fine');

    # a single message to /v1/track
    ($res, $v) = spec_post($seg, '/v1/track', encode_json(spec_track()), authorization => $auth);
    is_deeply([$res->{status}, $v], [200, []], 'segment: one message to /v1/track: fine');

    # bad messages: answered 200 (Segment does), every one recorded
    my @bad = (
        { type => 'track', event => 'no id' },
        { type => 'trak', userId => 'u1', event => 'typo' },
        { type => 'track', userId => 'u1', event => '' },
        { type => 'track', userId => 42, event => 'numeric id' },
        { type => 'identify', userId => 'u1', traits => ['not', 'an', 'object'] },
        { type => 'page', anonymousId => 'a1', name => 7, properties => 'x' },
        { type => 'group', userId => 'u1', traits => {} },
        { type => 'alias', userId => 'u1' },
        { type => 'track', userId => 'u1', event => 'e', messageId => 'm' x 100,
          timestamp => 'yesterday', context => 'ctx' },
        { type => 'track', userId => 'u1', event => 'e', context => { ip => 1, page => [] } },
    );
    ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => \@bad }), authorization => $auth);
    is($res->{status}, 200, 'segment: bad messages still answered 200, as Segment does');
    has_violation($v, qr/^batch\[0\]: neither userId nor anonymousId/, 'segment: a missing id');
    has_violation($v, qr/^batch\[1\]: type "trak": not one of/, 'segment: a bad type');
    has_violation($v, qr/^batch\[2\]: event is a string \(empty\)/, 'segment: an empty event');
    has_violation($v, qr/^batch\[3\]: userId is a number/, 'segment: a numeric userId');
    has_violation($v, qr/^batch\[4\]: traits is an array, not an object/, 'segment: traits not an object');
    has_violation($v, qr/^batch\[5\]: name is a number/, 'segment: page name not a string');
    has_violation($v, qr/^batch\[5\]: properties is a string/, 'segment: page properties not an object');
    has_violation($v, qr/^batch\[6\]: group needs groupId/, 'segment: group without groupId');
    has_violation($v, qr/^batch\[7\]: alias needs previousId/, 'segment: alias without previousId');
    has_violation($v, qr/^batch\[8\]: messageId of 100 characters/, 'segment: messageId too long');
    has_violation($v, qr/^batch\[8\]: timestamp "yesterday": not an ISO 8601/, 'segment: timestamp not ISO');
    has_violation($v, qr/^batch\[8\]: context is a string/, 'segment: context not an object');
    has_violation($v, qr/^batch\[9\]: context\.ip is a number/, 'segment: context.ip not a string');
    has_violation($v, qr/^batch\[9\]: context\.page is an array/, 'segment: context.page not an object');
    is(scalar(grep { /^batch\[0\]/ } @$v), 1, 'segment: one violation for the one thing wrong');

    # bad credentials: still 200 (Segment's way), recorded
    my %creds = (
        'wrong key'       => 'Basic ' . MIME::Base64::encode_base64('other:', ''),
        'no colon'        => 'Basic ' . MIME::Base64::encode_base64('seg_key', ''),
        'a password'      => 'Basic ' . MIME::Base64::encode_base64('seg_key:secret', ''),
        'Bearer'          => 'Bearer seg_key',
    );
    my %want = (
        'wrong key'  => qr/the Basic user name is not the write key/,
        'no colon'   => qr/no ":"/,
        'a password' => qr/password is not empty/,
        'Bearer'     => qr/not Basic/,
    );
    for my $k (sort keys %creds) {
        ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => [spec_track()] }),
                               authorization => $creds{$k});
        is($res->{status}, 200, "segment: $k: answered 200");
        has_violation($v, $want{$k}, "segment: $k: recorded");
    }
    ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => [spec_track()] }));
    has_violation($v, qr/no Authorization header and no writeKey/, 'segment: no credentials at all');
    ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => [spec_track()] }),
                           authorization => $auth, 'content-type' => 'text/plain');
    has_violation($v, qr/Content-Type "text\/plain"/, 'segment: Content-Type not JSON');

    # too large: a 40 KB message, a 600 KB body: 400
    my $big = spec_track();
    $big->{properties}{blob} = 'x' x (40 * 1024);
    ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => [$big] }), authorization => $auth);
    is($res->{status}, 400, 'segment: a 40 KB message: 400');
    has_violation($v, qr/^batch\[0\]: message of \d+ bytes: over 32768/, 'segment: the message size');
    my @many = map { my $m = spec_track(); $m->{properties}{blob} = 'y' x (30 * 1024); $m } 1 .. 20;
    ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => \@many }), authorization => $auth);
    is($res->{status}, 400, 'segment: a 600 KB body: 400');
    has_violation($v, qr/^body of \d+ bytes: over 512000/, 'segment: the body size');
    ($res, $v) = spec_post($seg, '/v1/batch', encode_json({ batch => [ map { +{ type => 'track', userId => 'u', event => 'e' } } 1 .. 2501 ] }),
                           authorization => $auth);
    is($res->{status}, 200, 'segment: 2,501 messages: 200 (Segment drops the rest)');
    has_violation($v, qr/2501 messages in one batch: over 2500/, 'segment: too many messages');

    # not JSON, not a batch, wrong route
    ($res, $v) = spec_post($seg, '/v1/batch', '{"batch": [', authorization => $auth);
    is($res->{status}, 400, 'segment: not JSON: 400');
    has_violation($v, qr/not JSON/, 'segment: not JSON recorded');
    ($res, $v) = spec_post($seg, '/v1/batch', '[{"type":"track"}]', authorization => $auth);
    is($res->{status}, 400, 'segment: a bare array: 400');
    ($res, $v) = spec_post($seg, '/batch/', encode_json({ batch => [spec_track()] }), authorization => $auth);
    is($res->{status}, 404, 'segment: /batch/: 404');
    has_violation($v, qr{^path /batch/}, 'segment: the wrong path recorded');

    # a status mode still answers; a refusal wins over it
    $seg->mode('status', code => 503, count => 1);
    ($res) = spec_post($seg, '/v1/batch', encode_json({ batch => [spec_track()] }), authorization => $auth);
    is($res->{status}, 503, 'segment: mode status 503 answers a good request');
    $seg->mode('status', code => 503, count => 1);
    ($res) = spec_post($seg, '/v1/batch', 'nope', authorization => $auth);
    is($res->{status}, 400, 'segment: ... a body the service refuses is 400 all the same');
    ($res) = spec_post($seg, '/v1/batch', encode_json({ batch => [spec_track()] }), authorization => $auth);
    is($res->{status}, 503, 'segment: ... without using up the count');

    like(join("\n", @{$seg->violations}), qr{^request \d+ \(POST /v1/batch\): batch\[0\]: neither}m,
         'segment: violations() names the request');
    $seg->stop;
}

{
    my $rud = StandIn->new(dir => $t->dir, spec => 'rudderstack', write_key => 'rud_key');
    my $auth = 'Basic ' . MIME::Base64::encode_base64('rud_key:', '');
    my $good = encode_json({ batch => [spec_msgs()], sentAt => '2024-05-06T07:08:10.000Z' });

    my ($res, $v) = spec_post($rud, '/prefix/v1/batch', gzip_bytes($good),
                              authorization => $auth, 'content-encoding' => 'gzip');
    is($res->{status}, 200, 'rudderstack: a good gzip batch under a prefix: 200');
    is($res->{content}, 'OK', 'rudderstack: plain-text OK');
    like($res->{headers}{'content-type'}, qr{^text/plain}, 'rudderstack: as text/plain');
    is_deeply($v, [], 'rudderstack: no violation');

    ($res, $v) = spec_post($rud, '/v1/batch', encode_json({ batch => [spec_track()], writeKey => 'rud_key' }));
    is($res->{status}, 401, 'rudderstack: writeKey in the body only: 401');
    has_violation($v, qr/no Authorization header/, 'rudderstack: no header recorded');
    ($res, $v) = spec_post($rud, '/v1/batch', $good,
                           authorization => 'Basic ' . MIME::Base64::encode_base64('seg_key:', ''));
    is($res->{status}, 401, 'rudderstack: a wrong key: 401');
    is($res->{content}, 'Invalid Write Key', 'rudderstack: "Invalid Write Key"');

    ($res, $v) = spec_post($rud, '/v1/batch', encode_json({ batch => [ { type => 'track', event => 'x' } ] }),
                           authorization => $auth);
    is($res->{status}, 400, 'rudderstack: no userId/anonymousId: 400');
    is($res->{content}, 'Non Identifiable Request', 'rudderstack: "Non Identifiable Request"');
    ($res, $v) = spec_post($rud, '/v1/batch', gzip_bytes('{"batch":'), authorization => $auth,
                           'content-encoding' => 'gzip');
    is($res->{status}, 400, 'rudderstack: gzip of invalid JSON: 400');
    ($res, $v) = spec_post($rud, '/v1/batch', encode_json({ batch => [ { type => 'click', userId => 'u' } ] }),
                           authorization => $auth);
    is($res->{status}, 200, 'rudderstack: a bad type with an id: 200 ...');
    has_violation($v, qr/type "click"/, 'rudderstack: ... and recorded');

    my @big = map { my $m = spec_track(); $m->{properties}{blob} = 'z' x (30 * 1024); $m } 1 .. 140;
    ($res, $v) = spec_post($rud, '/v1/batch', gzip_bytes(encode_json({ batch => \@big })),
                           authorization => $auth, 'content-encoding' => 'gzip');
    is($res->{status}, 413, 'rudderstack: over 4,000 KB decoded (small in gzip): 413');
    has_violation($v, qr/^body of \d+ bytes: over 4096000/, 'rudderstack: the body size recorded');
    ok(!(grep { /message of/ } @$v), 'rudderstack: no 32 KB rule per message');
    $rud->stop;
}

# --- stop, and DESTROY ---
{
    my $pid = $s->pid;
    my $port = $s->port;
    $s->stop;
    ok(!kill(0, $pid), 'stop: the process is gone (reaped)');
    ok(!connect_raw(), "stop: port $port refuses");
    is(scalar @{$s->requests}, 5, 'stop: the record can still be read');

    my $gone;
    {
        my $tmp = StandIn->new(dir => $t->dir);
        $gone = $tmp->pid;
    }
    ok(!kill(0, $gone), 'DESTROY stops and reaps the server');
}

done_testing;
