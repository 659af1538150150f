#!/usr/bin/perl
# Configuration: a full valid configuration loads, and mistakes fail
# "nginx -t" with a message naming nginx.conf and the line.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

# every directive, every value

my $valid = <<'EOF';
capture_destination local { type file; path %%DIR%%/events.jsonl; }
capture_destination other {
    type file;
    path %%DIR%%/other.jsonl;
}

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture local other;
        capture_tokens phc_abc phc_def;
        capture_property country $arg_country;
        capture_property plan "fixed";
        capture_fallback @posthog;
        capture_ip anonymize;
        capture_max_decoded_size 100m;
        capture_max_event_size 1m;
    }

    location /a/ { capture local; capture_ip on; capture_fallback /b/; }
    location /b/ { capture other; capture_ip off;
                   capture_max_decoded_size 512k; capture_max_event_size 4096; }
    location /c/ { capture local; capture_ip force; }

    location @posthog { return 200 "fallback\n"; }
}
EOF

{
    my $t = CaptureTest->new;
    $t->write_conf($valid);
    my ($ok, $out) = $t->conf_test;
    ok($ok, 'a configuration with every directive is valid') or diag $out;

    $t->start;
    my $r = $t->request(method => 'POST', path => '/ingest/e/',
        body => encode_json({ event => 'x', distinct_id => 'u',
            token => 'phc_abc' }));
    is($r->{status}, 200, 'and it captures');
    is(scalar @{$t->events('events.jsonl')}, 1, 'into the first destination');
    is(scalar @{$t->events('other.jsonl')}, 1, 'and the second');
    $t->done;
}

# a broken configuration: nginx -t fails, names the reason, the file and
# a line from the first line matching $from to the next one matching $to
# ('end': the end of the file, for errors found when the http block closes)

sub broken {
    my ($name, $http, $reason, $from, $to) = @_;
    my $t = CaptureTest->new;
    $t->write_conf($http);

    my ($ok, $out) = $t->conf_test;
    ok(!$ok, "$name: nginx -t fails");
    like($out, $reason, "$name: reason") or diag $out;

    my @conf = split /\n/, $t->conf;
    my ($lo) = grep { $conf[$_ - 1] =~ $from } 1 .. @conf;
    my $hi;
    if (defined $lo) {
        ($hi) = defined $to && $to eq 'end' ? (scalar @conf)
            : grep { $_ >= $lo && $conf[$_ - 1] =~ ($to // $from) }
                1 .. @conf;
    }
    my $file = $t->dir . '/nginx.conf';
    if (like($out, qr/\Q$file\E:\d+/, "$name: names nginx.conf and a line")) {
        my ($line) = $out =~ /\Q$file\E:(\d+)/;
        ok(defined $lo && defined $hi && $line >= $lo && $line <= $hi,
            "$name: line $line is the directive's ("
            . ($lo // '?') . '..' . ($hi // '?') . ')') or diag $out;
    }

    $t->done;
}

my $server = <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ {
        %%EXTRA%%
    }
}
EOF

sub with {
    my ($dest, $extra) = @_;
    $extra = 'capture local;' . (defined $extra ? "\n        $extra" : '')
        unless defined $extra && $extra =~ /^capture[ ;]/;
    (my $s = $server) =~ s/%%EXTRA%%/$extra/;
    return $dest . "\n" . $s;
}

my $local = 'capture_destination local { type file; path %%DIR%%/e.jsonl; }';

broken('unknown destination type',
    with("capture_destination local {\n    type nosuch;\n"
        . "    path %%DIR%%/e.jsonl;\n}"),
    qr/nosuch/, qr/capture_destination local/, qr/^}$/);

broken('unknown destination name in capture',
    with($local, 'capture local missing_dest;'),
    qr/missing_dest/, qr/capture local missing_dest/, 'end');

broken('capture naming no destination at all',
    $server =~ s/%%EXTRA%%/capture local;/r,
    qr/local/, qr/capture local;/, 'end');

broken('destination without path',
    with("capture_destination local {\n    type file;\n}"),
    qr/path/, qr/capture_destination local/, qr/^}$/);

broken('bad capture_ip value', with($local, 'capture_ip maybe;'),
    qr/maybe/, qr/capture_ip maybe/);

broken('duplicate destination name',
    with("$local\ncapture_destination local { type file; "
        . "path %%DIR%%/f.jsonl; }"),
    qr/local|duplicate/i, qr/f\.jsonl/);

broken('bad capture_max_event_size', with($local,
    'capture_max_event_size 10q;'), qr/10q|invalid/,
    qr/capture_max_event_size 10q/);

broken('bad capture_max_decoded_size', with($local,
    'capture_max_decoded_size lots;'), qr/lots|invalid/,
    qr/capture_max_decoded_size lots/);

broken('capture without arguments', with($local, 'capture;'),
    qr/number of arguments|capture/, qr/capture;/);

broken('capture_property without a value',
    with($local, 'capture_property country;'),
    qr/number of arguments|capture_property/, qr/capture_property country;/);

broken('capture_destination outside http',
    "server {\n    listen 127.0.0.1:%%PORT%%;\n    location / {\n"
        . "        $local\n    }\n}",
    qr/not allowed|capture_destination/, qr/capture_destination local/);

done_testing;
