#!/usr/bin/perl
# The PostHog destination over https against the stand-in's own CA:
# certificates are verified by default (the stand-in's is not trusted:
# retried, a warn line about the certificate, nothing arrives), trusted
# with ssl_ca_file, and not verified with ssl_verify off, which
# "nginx -t" warns about.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use StandIn;

use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';
plan skip_all => 'openssl is not installed'
    unless grep { -x "$_/openssl" } split /:/, $ENV{PATH} // '';

my $n_uuid = 0;

sub uuid {
    return sprintf '%08x-%04x-7%03x-8%03x-%012x',
        $$ & 0xffffffff, 0x0194, 0x567, 0x89a, ++$n_uuid;
}

sub send_events {
    my ($t, $path, $n, $name) = @_;
    my @evs = map { { uuid => uuid(), event => "tls $_", distinct_id => 'u1' } } 1 .. $n;
    my $r = $t->request(method => 'POST', path => $path,
        body => encode_json({ api_key => 'phc_tls', batch => \@evs }),
        headers => { 'Content-Type' => 'application/json' });
    is($r->{status}, 200, "$name: $n events accepted") or diag explain $r;
    return [ map { $_->{uuid} } @evs ];
}

sub log_lines {
    my ($t, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $t->error_log;
}


# --- trusted with ssl_ca_file; not verified with ssl_verify off ---
{
    my $t = CaptureTest->new;
    my $ca = StandIn->new(dir => $t->dir, tls => 1);
    my $off = StandIn->new(dir => $t->dir, tls => 1);
    like($ca->url, qr{^https://127\.0\.0\.1:\d+$}, 'the stand-ins speak https');

    my ($ca_url, $ca_file, $off_url) = ($ca->url, $ca->ca_file, $off->url);
    $t->write_conf(<<"EOF");
capture_destination withca {
    type posthog;
    url $ca_url;
    ssl_ca_file $ca_file;
    flush_interval 50ms;
}

capture_destination noverify {
    type posthog;
    url $off_url;
    ssl_verify off;
    flush_interval 50ms;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /withca/ { capture withca; }
    location /off/    { capture noverify; }
}
EOF

    my ($ok, $out) = $t->conf_test;
    ok($ok, 'nginx -t accepts ssl_ca_file and ssl_verify off') or diag $out;
    my $file = $t->dir . '/nginx.conf';
    my @conf = split /\n/, $t->conf;
    my ($line) = grep { $conf[$_ - 1] =~ /ssl_verify off/ } 1 .. @conf;
    like($out, qr/\[warn\].*capture destination "noverify": TLS certificates are not verified \(ssl_verify off\) in \Q$file\E:$line/,
         "nginx -t warns that verification is off, at $file:$line") or diag $out;
    unlike($out, qr/"withca".*not verified/, 'no such warning for the verifying destination');

    $t->start;

    my $u = send_events($t, '/withca/e/', 2, 'ssl_ca_file');
    my $reqs = $ca->wait_events(2, 5);
    is_deeply([map { $_->{uuid} } @$reqs], $u, 'ssl_ca_file: delivered');
    my $r = $ca->requests->[0];
    ok($r->{tls}, 'ssl_ca_file: over TLS');
    is("$r->{method} $r->{path}", 'POST /batch/', 'ssl_ca_file: POST /batch/');
    is($r->{headers}{'content-encoding'}, 'gzip', 'ssl_ca_file: gzip');
    is(scalar log_lines($t, qr/\[warn\].*"withca"/), 0, 'ssl_ca_file: no retry');

    $u = send_events($t, '/off/e/', 1, 'ssl_verify off');
    $reqs = $off->wait_events(1, 5);
    is_deeply([map { $_->{uuid} } @$reqs], $u, 'ssl_verify off: delivered');
    ok($off->requests->[0]{tls}, 'ssl_verify off: over TLS');
    is(scalar log_lines($t, qr/\[warn\].*"noverify".*attempt/), 0, 'ssl_verify off: no retry');

    $t->done;
}


# --- verified by default: the stand-in's certificate is not trusted ---
{
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir, tls => 1);
    my $url = $s->url;
    $t->write_conf(<<"EOF");
capture_drain_timeout 500ms;

capture_destination verify {
    type posthog;
    url $url;
    flush_interval 50ms;
    retry_delay 100ms;
    retry_max_delay 200ms;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture verify; }
}
EOF
    $t->start;

    my $u = send_events($t, '/ingest/e/', 1, 'no ssl_ca_file');
    my @warn;
    my $deadline = time + 5;
    while (time < $deadline) {
        @warn = log_lines($t, qr/\[warn\].*capture destination "verify".*failed/);
        last if @warn >= 3;
        sleep 0.1;
    }
    cmp_ok(scalar @warn, '>=', 3, 'no ssl_ca_file: failed and retried (' . scalar(@warn) . ' attempts)');
    like($warn[0] // '', qr/1 events, attempt 1 failed: .*certificate/i,
         'no ssl_ca_file: the warn line mentions the certificate') or diag $warn[0];
    like($warn[1] // '', qr/attempt 2 failed: .*certificate/i, 'no ssl_ca_file: so does the retry');
    is_deeply($s->requests, [], 'no ssl_ca_file: nothing arrived');
    is_deeply($s->events, [], 'no ssl_ca_file: nothing delivered');

    # still held: the exit gives up after capture_drain_timeout and says so
    $t->stop;
    my @lost = log_lines($t, qr/\[alert\].*capture destination "verify": 1 events held in memory were not delivered/);
    is(scalar @lost, 1, 'no ssl_ca_file: at exit the event is counted as lost');
    $t->done(allow => [qr/capture_drain_timeout \(500 ms\) expired/,
                       qr/capture destination "verify": 1 events held in memory were not delivered/]);
}

done_testing;
