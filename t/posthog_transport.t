#!/usr/bin/perl
# How the PostHog destination reaches its host: by a host name rather
# than an address ("localhost"), through an explicit proxy (a request in
# absolute form goes to the proxy, even for a host that does not exist),
# and over one connection kept alive between batches.

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
my $byname = StandIn->new(dir => $t->dir);
my $proxy = StandIn->new(dir => $t->dir);

my $name_url = 'http://localhost:' . $byname->port;
my $proxy_url = $proxy->url;

$t->write_conf(<<"EOF");
capture_destination byname {
    type posthog;
    url $name_url;
    flush_interval 50ms;
}

capture_destination viaproxy {
    type posthog;
    url http://posthog.invalid/prefix;
    proxy $proxy_url;
    flush_interval 50ms;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /byname/ { capture byname; }
    location /proxy/  { capture viaproxy; }
}
EOF
$t->start;

sub send_one {
    my ($path, $name) = @_;
    my $r = $t->request(method => 'POST', path => $path,
        headers => { 'Content-Type' => 'application/json' },
        body => encode_json({ api_key => 'phc_net', batch => [
            { event => $name, distinct_id => 'u' } ] }));
    is($r->{status}, 200, "$name: accepted");
}

# by name, three batches one after another: one connection kept alive

for my $i (1 .. 3) {
    send_one('/byname/e/', "by name $i");
    $byname->wait_requests($i, 10);
}

my $reqs = $byname->requests;
is(scalar @$reqs, 3, 'by name: three requests');
is_deeply([ map { $_->{path} } @$reqs ], [ ('/batch/') x 3 ],
    'by name: to /batch/');
is_deeply([ map { $_->{json}{batch}[0]{event} } @$reqs ],
    [ map { "by name $_" } 1 .. 3 ], 'by name: the events, in order');
is(scalar(keys %{{ map { $_->{conn} => 1 } @$reqs }}), 1,
    'by name: one connection for all three (keepalive)');
is($reqs->[0]{headers}{host}, 'localhost:' . $byname->port,
    'by name: Host is the name');

# through the proxy

send_one('/proxy/e/', 'proxied');
my $p = $proxy->wait_requests(1, 10);

is($p->[0]{method}, 'POST', 'proxy: a POST');
like($p->[0]{path}, qr{^http://posthog\.invalid/prefix/batch/$},
    'proxy: the absolute URL of the destination, its path prefix kept');
is($p->[0]{headers}{host}, 'posthog.invalid', 'proxy: Host of the target');
is($p->[0]{json}{batch}[0]{event}, 'proxied', 'proxy: the event');

$t->done;
done_testing;
