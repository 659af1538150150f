#!/usr/bin/perl
# CORS: OPTIONS preflight on capture paths, the mirrored origin on capture
# answers (success, beacon and errors), and the fallback that passes the
# other PostHog paths (and their preflights) through untouched.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);

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

    # a stand-in for PostHog: shows what the fallback passed on
    location @posthog {
        proxy_pass http://127.0.0.1:%%PORT2%%;
    }
}

server {
    listen 127.0.0.1:%%PORT2%%;

    location / {
        return 200 "posthog $request_method $request_uri len=$http_content_length type=$http_content_type origin=$http_origin\n";
    }
}
EOF
$t->start;

my $origin = 'https://app.example.com';

sub methods_ok {
    my ($v, $name) = @_;
    my %m = map { uc($_) => 1 } split /\s*,\s*/, $v // '';
    ok($m{GET} && $m{POST} && $m{OPTIONS},
        "$name: Allow-Methods has GET, POST, OPTIONS") or diag $v // 'none';
}

# preflight

for my $path ('/ingest/e/', '/ingest/e', '/ingest/i/v0/e/', '/ingest/batch/',
    '/ingest/s/', '/ingest/engage')
{
    my $r = $t->request(method => 'OPTIONS', path => $path, headers => [
        Origin => $origin,
        'Access-Control-Request-Method' => 'POST',
        'Access-Control-Request-Headers' => 'content-type, x-custom-header',
    ]);
    my $h = $r->{headers};
    is($r->{status}, 200, "OPTIONS $path: 200");
    is($h->{'access-control-allow-origin'}, $origin,
        "OPTIONS $path: origin mirrored");
    is($h->{'access-control-allow-credentials'}, 'true',
        "OPTIONS $path: credentials");
    methods_ok($h->{'access-control-allow-methods'}, "OPTIONS $path");
    is($h->{'access-control-allow-headers'}, 'content-type, x-custom-header',
        "OPTIONS $path: requested headers mirrored");
}

{
    my $r = $t->request(method => 'OPTIONS', path => '/ingest/e/',
        headers => [ Origin => 'http://localhost:3000',
            'Access-Control-Request-Method' => 'POST' ]);
    is($r->{status}, 200, 'OPTIONS without requested headers: 200');
    is($r->{headers}{'access-control-allow-origin'}, 'http://localhost:3000',
        'OPTIONS: another origin mirrored');
}

{
    my $r = $t->request(method => 'OPTIONS', path => '/ingest/e/');
    is($r->{status}, 200, 'OPTIONS without Origin: 200');
}

is(scalar @{$t->events('events.jsonl')}, 0, 'OPTIONS writes nothing');

# the answers to capture requests carry the origin too

my $ev = encode_json({ event => 'cors', distinct_id => 'u1',
    properties => { token => 'phc_cors' } });

{
    my $r = $t->request(method => 'POST', path => '/ingest/e/', body => $ev,
        headers => [ Origin => $origin, 'Content-Type' => 'text/plain' ]);
    is($r->{status}, 200, 'POST with Origin: 200');
    is($r->{body}, '{"status":"Ok"}', 'POST with Origin: body');
    is($r->{headers}{'access-control-allow-origin'}, $origin,
        'POST: origin mirrored');
    is($r->{headers}{'access-control-allow-credentials'}, 'true',
        'POST: credentials');
}

{
    my $r = $t->request(method => 'POST', path => '/ingest/e/?beacon=1',
        body => $ev, headers => [ Origin => $origin ]);
    is($r->{status}, 204, 'beacon: 204');
    is($r->{headers}{'access-control-allow-origin'}, $origin,
        'beacon: origin mirrored');
}

{
    my $r = $t->request(method => 'POST', path => '/ingest/e/',
        body => '{"event": broken', headers => [ Origin => $origin ]);
    is($r->{status}, 400, 'bad JSON with Origin: 400');
    is($r->{headers}{'access-control-allow-origin'}, $origin,
        'error answer: origin mirrored');
    is($r->{headers}{'access-control-allow-credentials'}, 'true',
        'error answer: credentials');
}

{
    my $r = $t->request(method => 'POST', path => '/ingest/e/', body => $ev);
    is($r->{status}, 200, 'POST without Origin: 200');
    my $acao = $r->{headers}{'access-control-allow-origin'};
    ok(!defined $acao || $acao eq '*' || $acao eq '',
        'POST without Origin: no foreign origin allowed')
        or diag $acao;
}

is(scalar @{$t->events('events.jsonl')}, 3, 'three events written');

# the fallback: other paths pass through to PostHog untouched

{
    my $body = '{"token":"phc_cors","distinct_id":"u1"}' . (' ' x 3000);
    my $r = $t->request(method => 'POST', path => '/ingest/flags/?v=2',
        body => $body, headers => [ Origin => $origin,
            'Content-Type' => 'application/json' ]);
    is($r->{status}, 200, 'POST /flags/?v=2: passed on');
    is($r->{body}, "posthog POST /ingest/flags/?v=2 len=" . length($body)
        . " type=application/json origin=$origin\n",
        'POST /flags/?v=2: method, URI, body length, headers unchanged');
}

for my $uri ('/ingest/array/phc_cors/config.js',
    '/ingest/array/phc_cors/config?ip=0', '/ingest/decide/?v=3',
    '/ingest/static/recorder.js?v=1.2.3', '/ingest/api/surveys/?token=x')
{
    my $r = $t->request(path => $uri, headers => [ Origin => $origin ]);
    is($r->{status}, 200, "GET $uri: passed on");
    is($r->{body}, "posthog GET $uri len= type= origin=$origin\n",
        "GET $uri: untouched");
}

{
    my $r = $t->request(method => 'OPTIONS', path => '/ingest/flags/?v=2',
        headers => [ Origin => $origin,
            'Access-Control-Request-Method' => 'POST' ]);
    is($r->{status}, 200, 'OPTIONS /flags/: passed on');
    is($r->{body}, "posthog OPTIONS /ingest/flags/?v=2 len= type= "
        . "origin=$origin\n", 'OPTIONS /flags/: answered by PostHog');
}

is(scalar @{$t->events('events.jsonl')}, 3, 'fallback writes nothing');

$t->done;
done_testing;
