#!/usr/bin/perl
# Configuration of the PostHog destination: a block with every
# parameter is valid; mistakes fail "nginx -t" with a message naming
# nginx.conf and the line of the mistake.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest;

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

my $server = <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture ph; }
}
EOF

sub dest {
    my (@lines) = @_;
    return "capture_destination ph {\n" . join('', map { "    $_\n" } @lines) . "}\n";
}

# every parameter, every value
{
    my $t = CaptureTest->new;
    $t->write_conf("capture_drain_timeout 3s;\n" . dest(
        'type posthog;', 'url https://eu.i.posthog.com/;',
        'batch_size 50;', 'batch_bytes 512k;', 'flush_interval 500ms;',
        'max_in_flight 2;', 'queue_size 1000;', 'queue_bytes 8m;',
        'overflow drop_oldest;', 'retry_delay 2s;', 'retry_max_delay 1m;',
        'timeout 5s;', 'connect_timeout 2s;', 'ssl_verify on;',
        'ssl_ca_file /etc/ssl/certs/ca-certificates.crt;',
        'proxy http://127.0.0.1:3128;') . $server);
    my ($ok, $out) = $t->conf_test;
    ok($ok, 'a destination with every parameter is valid') or diag $out;
    unlike($out, qr/\[(warn|emerg)\]/, 'and nginx -t says nothing about it') or diag $out;
    $t->done;
}

{
    my $t = CaptureTest->new;
    $t->write_conf(dest('type posthog;', 'url http://127.0.0.1:9;',
                        'overflow reject;') . $server);
    my ($ok, $out) = $t->conf_test;
    ok($ok, 'url and overflow reject alone are valid') or diag $out;
    $t->done;
}

# a broken destination: nginx -t fails with $reason, naming nginx.conf
# and the line that matches $at
sub broken {
    my ($name, $http, $reason, $at) = @_;
    my $t = CaptureTest->new;
    $t->write_conf($http);

    my ($ok, $out) = $t->conf_test;
    ok(!$ok, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: an [emerg]") or diag $out;
    like($out, $reason, "$name: reason") or diag $out;

    my @conf = split /\n/, $t->conf;
    my @want = grep { $conf[$_ - 1] =~ $at } 1 .. @conf;
    my $file = $t->dir . '/nginx.conf';
    is(scalar @want, 1, "$name: (the test finds its line in nginx.conf)");
    like($out, qr/\Q$file\E:$want[0]\b/, "$name: names $file:$want[0]") or diag $out;

    $t->done;
}

broken('no url', dest('type posthog;', 'batch_size 5;') . $server,
       qr/capture destination "ph" of type "posthog" has no "url"/,
       qr/^capture_destination ph \{/);

broken('url not http(s)', dest('type posthog;', 'url ftp://127.0.0.1/;') . $server,
       qr/invalid "url" in capture destination "ph": an http:\/\/ or https:\/\/ URL is needed/,
       qr/url ftp:/);

broken('url without a host', dest('type posthog;', 'url http://;') . $server,
       qr/invalid "url"/, qr/url http:\/\/;/);

broken('url with two values', dest('type posthog;', 'url http://a.example http://b.example;') . $server,
       qr/invalid "url"/, qr/url http:\/\/a/);

broken('batch_size not a number', dest('type posthog;', 'url http://127.0.0.1:9;', 'batch_size ten;') . $server,
       qr/invalid number in "batch_size"/, qr/batch_size ten/);

broken('batch_size negative', dest('type posthog;', 'url http://127.0.0.1:9;', 'batch_size -5;') . $server,
       qr/invalid number in "batch_size"/, qr/batch_size -5/);

broken('batch_size 0', dest('type posthog;', 'url http://127.0.0.1:9;', 'batch_size 0;') . $server,
       qr/"batch_size".*positive/, qr/batch_size 0/);

broken('bad batch_bytes', dest('type posthog;', 'url http://127.0.0.1:9;', 'batch_bytes 1q;') . $server,
       qr/invalid size in "batch_bytes"/, qr/batch_bytes 1q/);

broken('bad flush_interval', dest('type posthog;', 'url http://127.0.0.1:9;', 'flush_interval soon;') . $server,
       qr/invalid time in "flush_interval"/, qr/flush_interval soon/);

broken('bad overflow', dest('type posthog;', 'url http://127.0.0.1:9;', 'overflow block;') . $server,
       qr/invalid "overflow": use "reject" or "drop_oldest"/, qr/overflow block/);

broken('bad ssl_verify', dest('type posthog;', 'url http://127.0.0.1:9;', 'ssl_verify maybe;') . $server,
       qr/invalid "ssl_verify"/, qr/ssl_verify maybe/);

broken('unknown parameter', dest('type posthog;', 'url http://127.0.0.1:9;', 'batch_sise 5;') . $server,
       qr/unknown parameter "batch_sise" in capture destination "ph" of type "posthog"/,
       qr/batch_sise/);

broken('duplicate parameter', dest('type posthog;', 'url http://127.0.0.1:9;', 'batch_size 5;',
                                   'batch_size 6;') . $server,
       qr/"batch_size" is duplicate/, qr/batch_size 6/);

broken('capture_drain_timeout not a time',
       "capture_drain_timeout forever;\n" . dest('type posthog;', 'url http://127.0.0.1:9;') . $server,
       qr/capture_drain_timeout/, qr/capture_drain_timeout forever/);

done_testing;
