#!/usr/bin/perl

# The real posthog-js in headless Chromium against the module: a page on
# the same nginx loads posthog-js with api_host /ingest; its pageview,
# custom event, $identify and unload beacon ($pageleave) land in the
# file, and what is not capture (remote config, /flags) passes through
# capture_fallback to a stand-in PostHog, whose flag the page then sees.
# The driver is t/sdk/posthog-js.mjs, the stand-in t/sdk/standin-posthog.mjs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sdk";

use Test::More;
use Time::HiRes qw(time);

use CaptureTest;
use SdkCheck;

my $skip = sdk_skip_reason('posthog-js', 'playwright-core');
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
$skip //= "no $chromium" unless -x $chromium;
plan skip_all => $skip if $skip;

my $root = $SdkCheck::ROOT;
my $t = CaptureTest->new;
my $dir = $t->dir;

$t->write_conf(<<"EOF");
capture_destination local { type file; path %%DIR%%/events.jsonl; }

# what nginx itself saw of each request, the unload beacon included
log_format sdk escape=json '{"method":"\$request_method","uri":"\$request_uri",'
    '"status":"\$status","content_type":"\$content_type",'
    '"content_encoding":"\$http_content_encoding",'
    '"fetch_mode":"\$http_sec_fetch_mode","user_agent":"\$http_user_agent"}';

types {
    text/html               html;
    application/javascript  js;
    application/json        json map;
}

server {
    listen 127.0.0.1:%%PORT%%;
    access_log %%DIR%%/sdk_access.log sdk;

    location = /favicon.ico { return 204; }
    location = /app/page.html { alias $root/t/sdk/page.html; }
    location /app/posthog/ { alias $root/node_modules/posthog-js/dist/; }

    location /ingest/ {
        capture local;
        capture_fallback \@posthog;
    }

    # as in front of PostHog: the path without the /ingest prefix
    location \@posthog {
        rewrite ^/ingest(/.*)\$ \$1 break;
        proxy_pass http://127.0.0.1:%%PORT2%%;
    }
}
EOF
$t->start;

my $standin = spawn_bg("$dir/standin.log", $t->port2,
    "$FindBin::Bin/sdk/standin-posthog.mjs", $t->port2, "$dir/standin.json");
END { local $?; stop_bg($standin) if $standin }

my $base = 'http://127.0.0.1:' . $t->port;
my $run = "browser-$$";
my $t0 = time;
my ($status, $out) = run_node(120, "$FindBin::Bin/sdk/posthog-js.mjs",
                              $base, $run);
is($status, 0, 'the page did everything without an error')
    or diag($out && $out->{error});
unless (ok(ref $out eq 'HASH', 'the driver reported what the page sent')) {
    $t->done;
    done_testing;
    exit;
}

my $user = $out->{user_id};
my $anon = $out->{anon_id} // '';
my $page_url = "$base/app/page.html";

ok(!$out->{is_bot} && !$out->{webdriver}, 'posthog-js does not take Chromium for a bot');
ok($out->{flag_enabled}, 'the page sees test-flag from the stand-in');
is_deeply($out->{request_errors}, [], 'posthog-js saw no failed request');


subtest 'what posthog-js sent to /ingest/' => sub {
    my @reqs = @{$out->{requests}};
    my @capture = grep { $_->{path} =~ m{^/ingest/(e|i/v0/e)/?$} } @reqs;
    ok(@capture >= 2, scalar(@capture) . ' capture requests seen');
    for my $r (@capture) {
        my $what = "$r->{method} $r->{path}" . ($r->{query} ne '' ? "?$r->{query}" : '')
            . ' (' . join(', ', map { $_->{event} } @{$r->{events}}) . ')';
        is($r->{status}, 200, "$what: 200");
        is($r->{response}, '{"status":"Ok"}', "$what: body");
    }
    ok((grep { $_->{body_hex} =~ /^1f8b08/ && $_->{query} !~ /compression/ }
        @capture), 'a raw gzip body with no compression hint in the query');

    my ($flags) = grep { $_->{path} eq '/ingest/flags/' } @reqs;
    ok($flags, 'POST /ingest/flags/ sent') or return;
    is($flags->{query}, 'v=2', 'with ?v=2');
    is($flags->{status}, 200, 'answered 200 through capture_fallback');
    like($flags->{response} // '', qr/"test-flag"/, 'with the flags of the stand-in');
};


subtest 'what the stand-in PostHog received' => sub {
    my $got = eval { JSON::PP->new->utf8->decode(
        do { local (@ARGV, $/) = "$dir/standin.json"; <> }) } // [];

    my ($flags) = grep { $_->{method} eq 'POST' && $_->{path} eq '/flags/' } @$got;
    ok($flags, 'POST /flags/') or return diag(explain($got));
    is($flags->{query}, 'v=2', 'query as sent');
    my ($sent) = grep { $_->{path} eq '/ingest/flags/' } @{$out->{requests}};
    is("$flags->{body_length} $flags->{body_hex}",
       "$sent->{body_length} $sent->{body_hex}", 'body as sent (gzip)');
    is($flags->{body}{token}, 'phc_browser_token', 'body decodes to the flags request');

    ok((grep { $_->{path} =~ m{^/array/phc_browser_token/config(\.js)?$} } @$got),
       'remote config requested');
    my @leaked = grep { $_->{path} =~ m{^/(e|i/v0/e|batch|capture|track|engage|s)/?$} } @$got;
    ok(!@leaked, 'no capture request passed through') or diag(explain(\@leaked));
};


subtest 'what the module stored' => sub {
    my @sent = map { my $r = $_; map { [$_, $r->{sent_at}] } @{$r->{events}} }
               grep { $_->{path} =~ m{^/ingest/(e|i/v0/e)/?$} } @{$out->{requests}};
    my %want = map { $_->[0]{uuid} => 1 } @sent;

    # the beacon, which Playwright cannot see, carries $pageleave
    my $leave = sub { grep { $_->{event} eq '$pageleave'
                             && $_->{distinct_id} eq $user } @{$_[0]} };
    my $events = wait_for(sub {
        my $ev = $t->events('events.jsonl');
        my $by = index_by_uuid($ev);
        (grep { !$by->{$_} } keys %want) || !$leave->($ev) ? undef : $ev;
    }, 15) // $t->events('events.jsonl');
    my $by = index_by_uuid($events);
    my $t1 = time;

    for my $name ('$pageview', 'sdk browser test', '$identify') {
        ok((grep { $_->[0]{event} eq $name } @sent), "$name sent");
    }
    for my $s (@sent) {
        my ($sent, $sent_at) = @$s;
        my $stored = $by->{$sent->{uuid}} // [];
        is(scalar @$stored, 1, "$sent->{event} $sent->{uuid} stored once") or next;
        check_event($stored->[0], $sent, token => 'phc_browser_token',
                    lib => 'web', sent_at => $sent_at, window => [$t0, $t1]);
        is($stored->[0]{properties}{'$browser'}, 'Chrome', '$browser Chrome');
    }

    my %name;
    push @{$name{$_->{event}}}, $_ for @$events;
    my ($pv) = grep { $_->{distinct_id} eq $anon } @{$name{'$pageview'} // []};
    is($pv && $pv->{properties}{'$current_url'}, $page_url, '$pageview: $current_url');

    my ($custom) = grep { ($_->{properties}{test_id} // '') eq "$run-custom" }
                   @{$name{'sdk browser test'} // []};
    is($custom && $custom->{distinct_id}, $anon, 'custom event: the anonymous id');
    is($custom && $custom->{properties}{text}, "h\x{e9}llo w\x{f6}rld \x{2713}",
       'custom event: UTF-8 text');

    my ($id) = grep { $_->{distinct_id} eq $user } @{$name{'$identify'} // []};
    is($id && $id->{properties}{'$anon_distinct_id'}, $anon, '$identify: $anon_distinct_id');
    is_deeply($id && $id->{properties}{'$set'},
              { email => "$user\@example.com", name => 'Browser Tester' },
              '$identify: top-level $set folded into properties.$set');
    is($id && $id->{properties}{'$set_once'}{first_run}, $run,
       '$identify: top-level $set_once folded into properties.$set_once');

    my ($pl) = $leave->($events);
    ok($pl, '$pageleave from the unload beacon stored') or return;
    is($pl->{token}, 'phc_browser_token', '$pageleave: token');
    ok(is_uuid($pl->{uuid}), '$pageleave: uuid');
    is($pl->{properties}{'$ip'}, '127.0.0.1', '$pageleave: $ip');
    is($pl->{properties}{'$lib'}, 'web', '$pageleave: $lib');
    is($pl->{properties}{'$browser'}, 'Chrome', '$pageleave: $browser');
    is($pl->{properties}{'$current_url'}, $page_url, '$pageleave: $current_url');
};


subtest 'what nginx saw' => sub {
    my @log = map { JSON::PP->new->utf8->decode($_) }
              split /\n/, do { local (@ARGV, $/) = "$dir/sdk_access.log"; <> } // '';
    my @capture = grep { $_->{uri} =~ m{^/ingest/(e|i/v0/e)/?(\?|$)} } @log;
    ok(@capture, 'capture requests logged');
    is(join(' ', map { $_->{status} } @capture), join(' ', ('200') x @capture),
       'every capture request answered 200');
    my @beacon = grep { $_->{fetch_mode} eq 'no-cors' && $_->{method} eq 'POST' } @capture;
    is(scalar @beacon, 1, 'one beacon (POST, Sec-Fetch-Mode no-cors)')
        or diag(explain(\@capture));
    is($beacon[0]{content_type}, 'text/plain', 'the beacon is text/plain') if @beacon;
};

$t->done;
done_testing;
