#!/usr/bin/perl

# The first-party PostHog set-up of docs/posthog-proxy.md, end to end, in
# headless Chromium.  nginx runs the doc's own block, read from the doc;
# only the listener (loopback, plain http, no certificate), the events
# file and the upstream URLs are swapped, each on exactly one line.  Three
# loopback stand-ins play PostHog: its API host and its assets host
# (t/sdk/standin-posthog.mjs, the second with --static), and the /batch/
# of the `posthog` destination (t/lib/StandIn.pm).  The page
# (t/sdk/proxy-page.html) loads posthog-js with PostHog's snippet through
# the proxy (/ingest/static/array.js), gets its flags through it byte for
# byte both ways, and its events reach the file and /batch/ with the
# browser's own properties; no capture request reaches PostHog's hosts,
# and what does reach them has the doc's Host, HTTP/1.1, X-Forwarded-For
# and no Cookie.  The EU and load-balancer blocks of the doc pass nginx -t.
# The driver is t/sdk/posthog-js-proxy.mjs; the whole test takes a few
# seconds and is bounded well under 40.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sdk";

use Digest::SHA qw(sha256_hex);
use Test::More;
use Time::HiRes qw(time);

use CaptureTest;
use SdkCheck;
use StandIn;

my $T0 = time;

my $skip = sdk_skip_reason('posthog-js', 'playwright-core');
my $chromium = $ENV{CHROMIUM} // '/usr/bin/chromium';
$skip //= "no $chromium" unless -x $chromium;
plan skip_all => $skip if $skip;

my $root = $SdkCheck::ROOT;
my $dist = "$root/node_modules/posthog-js/dist";
my $JSON = JSON::PP->new->utf8;

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    return scalar <$fh>;
}

# the directive lines of a configuration: no comments, no blank lines,
# spaces trimmed
sub directives {
    my ($text) = @_;
    return [ grep { $_ ne '' } map { s/\s+#.*$//r =~ s/^\s*#.*$//r =~ s/^\s+|\s+$//gr }
             split /\n/, $text ];
}

my $CAPTURE = qr{^/(e|i/v0/e|batch|capture|track|engage|s)/?$};


# --- the doc's configuration -------------------------------------------

my $doc = slurp("$root/docs/posthog-proxy.md") // '';
my ($block) = $doc =~ m{<!-- t/sdk_proxy\.t builds its nginx\.conf from the next block -->\n```nginx\n(.*?\n)```\n}s;
unless (ok($block, 'docs/posthog-proxy.md has the marked nginx block')) {
    done_testing;
    exit;
}
my ($token) = $block =~ /^\s*capture_tokens\s+(phc_\w+);$/m;
ok($token, "the doc's capture_tokens: " . ($token // 'none'));

my $t = CaptureTest->new;            # port: nginx; port2: PostHog's API host
my $dir = $t->dir;
my $api_port = $t->port2;
my $assets_port = CaptureTest::_free_port($t->port, $t->port2);
my $batch = StandIn->new(dir => $dir);   # the posthog destination's url

# What differs from the doc, each on exactly one line of it: the harness
# writes load_module and the http block; the site listens on loopback in
# plain http; the upstreams are the stand-ins.  Nothing else changes.
my @swaps = (
    [ 'load_module: written by the harness',
      qr{^load_module modules/ngx_http_capture_module\.so;$}, undef ],
    [ 'http {: written by the harness', qr{^http \{$}, undef ],
    [ '} of http: written by the harness', qr{^\}$}, undef ],
    [ 'listen: loopback, plain http', qr{^(\s*)listen 443 ssl;$},
      sub { "$1listen 127.0.0.1:%%PORT%%;" } ],
    [ 'ssl_certificate: none on loopback', qr{^\s*ssl_certificate\s}, undef ],
    [ 'ssl_certificate_key: none on loopback', qr{^\s*ssl_certificate_key\s}, undef ],
    [ 'the events file: in the test directory',
      qr{^(\s*path\s+)/var/log/nginx/events\.jsonl;$}, sub { "$1%%DIR%%/events.jsonl;" } ],
    [ 'the posthog destination: the /batch/ stand-in',
      qr{^(\s*url\s+)https://us\.i\.posthog\.com;$}, sub { $1 . $batch->url . ';' } ],
    [ 'the assets host: its stand-in',
      qr{^(\s*~\^/static/\s+)https://us-assets\.i\.posthog\.com;$},
      sub { "$1http://127.0.0.1:$assets_port;" } ],
    [ 'the API host: its stand-in',
      qr{^(\s*default\s+)https://us\.i\.posthog\.com;$},
      sub { "$1http://127.0.0.1:$api_port;" } ],
);

# a line of the doc as the test runs it: undef when left out
my %hits;
sub swap_line {
    my ($line, $count) = @_;
    for my $s (@swaps) {
        my ($what, $re, $to) = @$s;
        next unless $line =~ $re;
        $hits{$what}++ if $count;
        return $to ? $to->() : undef;
    }
    return $line;
}

my @lines = map { s/^    //r }                 # out of the http block
            grep { defined } map { swap_line($_, 1) } split /\n/, $block;
for my $s (@swaps) {
    is($hits{$s->[0]} // 0, 1, "swap: $s->[0] (one line of the doc)");
}
my $from_doc = join "\n", @lines;

# Test scaffolding around the doc's text: the page and its type.
my $scaffold_http = <<"EOF";
types { text/html html; application/javascript js; }   # test scaffolding
EOF
my $scaffold_server = <<"EOF";
    location = /favicon.ico { return 204; }              # test scaffolding
    location = /app/proxy-page.html { alias $root/t/sdk/proxy-page.html; }   # test scaffolding
EOF
my $http = $from_doc;
ok($http =~ s/^(    server_name [^\n]*\n)/$1$scaffold_server/m, 'scaffolding: the page');
$t->write_conf($scaffold_http . $http . "\n");

subtest 'nginx.conf is the doc configuration' => sub {
    # what was written, without the harness's own lines and the scaffolding
    my $conf = $t->conf;
    my ($inner) = $conf =~ /^http \{\n.*?\n\n(.*)\n\}\n\z/ms;
    ok(defined $inner, 'the http block of nginx.conf') or return;
    my @written = grep { !/# test scaffolding$/ } split /\n/, $inner;
    my $want = directives(join "\n", grep { defined } map { swap_line($_) } split /\n/, $block);
    $_ = $t->_subst($_) for @$want;
    is_deeply(directives(join "\n", @written), $want,
              "nginx.conf's directives are the doc's, but for the swaps")
        or diag($conf);
};

subtest "the doc's SDK lines are the page's" => sub {
    my $page = slurp("$root/t/sdk/proxy-page.html") // '';
    like($doc, qr/posthog\.init\('\Q$token\E', \{\n\s+api_host: '\/ingest',/,
         "doc: posthog.init('$token', { api_host: '/ingest'");
    like($page, qr/posthog\.init\('\Q$token\E', \{\n\s+api_host: '\/ingest',/,
         'page: the same token and api_host');
    my ($doc_ui) = $doc =~ /^\s+ui_host:\s+'([^']+)'/m;
    my ($page_ui) = $page =~ /^\s+ui_host:\s+'([^']+)'/m;
    is($page_ui, $doc_ui, "page: the doc's ui_host");
    like($page, qr{p\.src=s\.api_host\.replace\("\.i\.posthog\.com","-assets\.i\.posthog\.com"\)\+"/static/array\.js"},
         "page: PostHog's snippet loads api_host + /static/array.js");
};

subtest "the doc's EU and load-balancer blocks" => sub {
    my ($eu) = $doc =~ /^## EU cloud\n.*?```nginx\n(.*?\n)```\n/ms;
    my ($lb) = $doc =~ /^## Behind a load balancer.*?```nginx\n(.*?\n)```\n/ms;
    ok($eu && $lb, 'both blocks found') or return;

    # the EU block is the US lines that name a PostHog host, us -> eu
    my $host = qr/\b(us|eu)(-assets)?\.i\.posthog\.com\b/;
    my %us = map { $_ => 1 } @{directives($block)};
    my @eu = @{directives($eu)};
    my @hosts = grep { /$host/ } @{directives($block)};
    is(scalar(grep { /\beu(-assets)?\.i\.posthog\.com\b/ } @eu), scalar @hosts,
       'EU: as many host lines as the US block');
    for my $l (grep { /$host/ } @eu) {
        my $back = $l =~ s/\beu((?:-assets)?\.i\.posthog\.com)\b/us$1/gr;
        ok($us{$back} && $back ne $l, "EU: $l");
    }
    like($doc, qr/ui_host: 'https:\/\/eu\.posthog\.com'/, "EU: ui_host https://eu.posthog.com");

    # nginx takes the doc's configuration made EU (as the block shows it)
    # with the realip lines in its server
    my $c = CaptureTest->new;
    my $text = join "\n", map { s/\bus((?:-assets)?\.i\.posthog\.com)\b/eu$1/gr }
        grep { !/^load_module |^http \{$|^\}$|^\s*ssl_certificate/ } split /\n/, $block;
    $text =~ s/listen 443 ssl;/listen 127.0.0.1:%%PORT%%;/;
    $text =~ s{/var/log/nginx/events\.jsonl}{%%DIR%%/events.jsonl};
    ok($text =~ s/^(\s*server_name [^\n]*\n)/$1$lb/m, 'realip lines in the server block');
    is(scalar(() = $text =~ /\beu(-assets)?\.i\.posthog\.com/g), scalar @hosts, 'EU hosts in place');
    $c->write_conf($text);
    my ($ok, $why) = $c->conf_test;
    ok($ok, 'nginx -t accepts the EU configuration behind a load balancer') or diag($why);
};

$t->start;

my $sdk = "$FindBin::Bin/sdk";
my $api = spawn_bg("$dir/api.log", $api_port,
    "$sdk/standin-posthog.mjs", $api_port, "$dir/api.json");
my $assets = spawn_bg("$dir/assets.log", $assets_port,
    "$sdk/standin-posthog.mjs", $assets_port, "$dir/assets.json", '--static', $dist);
END { local $?; stop_bg($api) if $api; stop_bg($assets) if $assets }


# --- the browser --------------------------------------------------------

my $base = 'http://127.0.0.1:' . $t->port;
my $page_url = "$base/app/proxy-page.html";
my $run = "proxy-$$";
my $t0 = time;
my ($status, $out) = run_node(25, "$sdk/posthog-js-proxy.mjs", $base, $run);
is($status, 0, 'the page did everything without an error')
    or diag($out && $out->{error});
unless (ok(ref $out eq 'HASH', 'the driver reported what the page sent')) {
    $t->done;
    done_testing;
    exit;
}

my $version = $JSON->decode(slurp("$root/node_modules/posthog-js/package.json"))->{version};
my @reqs = @{$out->{requests}};
my $standin = sub {
    my ($name) = @_;
    return eval { $JSON->decode(slurp("$dir/$name.json")) } // [];
};
my $got_api = $standin->('api');
my $got_assets = $standin->('assets');

ok(!$out->{is_bot} && !$out->{webdriver}, 'posthog-js does not take Chromium for a bot');
is_deeply($out->{request_errors}, [], 'posthog-js saw no failed request');
is_deeply($out->{external}, [], 'no request left the loopback');
ok(!(grep { $_->{failure} } @reqs), 'no request under /ingest/ failed')
    or diag(explain([ grep { $_->{failure} } @reqs ]));

# the proxied headers every request to PostHog's hosts must have
my $proxied = sub {
    my ($r, $host) = @_;
    is($r->{host}, $host, "$r->{method} $r->{path}: Host $host");
    is($r->{http_version}, '1.1', "$r->{method} $r->{path}: HTTP/1.1");
    is($r->{headers}{'x-forwarded-for'}, '127.0.0.1',
       "$r->{method} $r->{path}: X-Forwarded-For the client");
    is($r->{headers}{cookie}, undef, "$r->{method} $r->{path}: no Cookie");
};


subtest 'array.js from the assets host, through capture_fallback' => sub {
    my $file_sha = sha256_hex(slurp("$dist/array.js") // '');
    my ($b) = grep { $_->{path} eq '/ingest/static/array.js' } @reqs;
    ok($b, 'the page requested /ingest/static/array.js') or return;
    is("$b->{method} $b->{query}", 'GET ', 'GET, no query');
    is($b->{status}, 200, 'the page got 200');
    is($b->{response_sha256}, $file_sha, 'the page got dist/array.js, byte for byte');
    is($b->{response_content_type}, 'application/javascript', 'as application/javascript');
    ok((grep { $_ eq '/ingest/static/array.js' } @{$out->{scripts} // []}),
       'loaded as a script (resource timing)');

    my @a = grep { $_->{path} eq '/static/array.js' } @$got_assets;
    is(scalar @a, 1, 'the assets stand-in served /static/array.js once') or return;
    is($a[0]{method}, 'GET', 'GET');
    is($a[0]{status}, 200, 'answered 200');
    is($a[0]{response_sha256}, $file_sha, 'with dist/array.js');
    $proxied->($a[0], 'us-assets.i.posthog.com');

    my @static = grep { $_->{path} =~ m{^/ingest/static/} } @reqs;
    is(scalar @$got_assets, scalar @static,
       'the assets stand-in got exactly the /ingest/static/ requests of the page')
        or diag(explain($got_assets));
    ok(!(grep { $_->{path} !~ m{^/static/} } @$got_assets), 'and nothing but /static/');
};


subtest '/flags through capture_fallback, both ways unchanged' => sub {
    my @sent = grep { $_->{path} =~ m{^/ingest/flags/?$} } @reqs;
    my @arrived = grep { $_->{path} =~ m{^/flags/?$} } @$got_api;
    ok(@sent >= 1, scalar(@sent) . ' /flags request(s) sent') or return;
    is(scalar @arrived, scalar @sent, 'as many arrived at the API stand-in');
    ok($out->{flag_enabled}, 'the page sees test-flag enabled');

    my %by_body;
    push @{$by_body{$_->{body_sha256}}}, $_ for @arrived;
    for my $s (@sent) {
        my $what = "$s->{method} $s->{path}?$s->{query} ($s->{body_length} bytes)";
        my $a = shift @{$by_body{$s->{body_sha256}} // []};
        ok($a, "$what arrived with the same body (sha256 $s->{body_sha256})") or next;
        ok($s->{body_length} > 0 && $s->{body_hex} =~ /^1f8b08/, "$what: a gzip body");
        is("$a->{method} $a->{path} $a->{query}", "$s->{method} " . ($s->{path} =~ s{^/ingest}{}r)
           . " $s->{query}", "$what: method, path without /ingest, query");
        is($a->{body_length}, $s->{body_length}, "$what: body length");
        is($a->{content_type}, $s->{content_type}, "$what: Content-Type as sent");
        is($a->{content_encoding}, $s->{content_encoding}, "$what: Content-Encoding as sent");
        is(ref $a->{body} eq 'HASH' && $a->{body}{token}, $token, "$what: decodes, token $token");
        $proxied->($a, 'us.i.posthog.com');

        is($s->{status}, $a->{status}, "$what: the page got the stand-in's status");
        is($s->{response_sha256}, $a->{response_sha256}, "$what: and its answer, byte for byte");
        is($s->{response_content_type}, $a->{response_content_type}, "$what: and its Content-Type");
        like($s->{response} // '', qr/"test-flag"/, "$what: the answer has test-flag");
    }
    my @cookies = grep { $_->{path} =~ m{^/ingest/flags/?$} } @{$out->{cookies}};
    is(scalar(grep { ($_->{cookie} // '') =~ /site_session=not-for-posthog/ } @cookies),
       scalar @sent, "the browser sent the site's cookie with each /flags (not passed on)");
};


subtest 'everything else the page asked for, and nothing more' => sub {
    my @capture = grep { ($_->{path} =~ s{^/ingest}{}r) =~ $CAPTURE } @reqs;
    my @other = grep { ($_->{path} =~ s{^/ingest}{}r) !~ $CAPTURE } @reqs;
    ok((grep { $_->{path} =~ m{^/ingest/array/\Q$token\E/config(\.js)?$} } @other),
       'remote config requested through the proxy');

    # each request that is not capture arrived at one stand-in, answered
    # with the same status and bytes
    my @standin = (@$got_api, @$got_assets);
    for my $s (@other) {
        my $path = $s->{path} =~ s{^/ingest}{}r;
        my ($i) = grep { my $a = $standin[$_];
                         "$a->{method} $a->{path} $a->{query} $a->{body_sha256}"
                         eq "$s->{method} $path $s->{query} $s->{body_sha256}" } 0 .. $#standin;
        ok(defined $i, "$s->{method} $s->{path}?$s->{query} reached a PostHog stand-in") or next;
        my $a = splice @standin, $i, 1;
        is("$s->{status} $s->{response_sha256}", "$a->{status} $a->{response_sha256}",
           "$s->{method} $s->{path}: the page got its answer");
    }
    is_deeply(\@standin, [], 'the stand-ins got nothing the page did not send');

    my @leaked = grep { $_->{path} =~ $CAPTURE } @$got_api, @$got_assets;
    ok(@capture >= 1, scalar(@capture) . ' capture requests sent to /ingest/');
    is_deeply(\@leaked, [], 'no capture request reached PostHog\'s hosts');
    for my $r (@capture) {
        is("$r->{status} " . ($r->{response} // ''), '200 {"status":"Ok"}',
           "$r->{method} $r->{path}: answered by nginx");
    }
};


# what the page sent, event by event, with the sent_at of its request
my @sent = map { my $r = $_; map { [$_, $r->{sent_at}] } @{$r->{events}} }
           grep { ($_->{path} =~ s{^/ingest}{}r) =~ $CAPTURE } @reqs;
my $anon = $out->{anon_id} // '';
my $user = $out->{user_id};
my %want = map { $_->[0]{uuid} => $_->[0] } @sent;
for my $name ('$pageview', 'sdk proxy test', '$identify') {
    ok((grep { $_->[0]{event} eq $name } @sent), "$name sent");
}


subtest 'the events at the posthog destination (/batch/)' => sub {
    my $events = wait_for(sub {
        my $ev = $batch->events;
        my $by = index_by_uuid($ev);
        (grep { !$by->{$_} } keys %want) ? undef : $ev;
    }, 8) // $batch->events;
    my $by = index_by_uuid($events);

    my @r = @{$batch->requests};
    ok(@r >= 1, scalar(@r) . ' request(s) to the destination');
    is(join(' ', map { "$_->{method} $_->{path}" } @r), join(' ', ('POST /batch/') x @r),
       'every one POST /batch/');
    ok(!(grep { ($_->{headers}{'user-agent'} // '') !~ m{^ngx_http_capture_module/} } @r),
       'from the module');

    for my $w (values %want) {
        my $what = "$w->{event} $w->{uuid}";
        my $got = $by->{$w->{uuid}} // [];
        is(scalar @$got, 1, "$what: at /batch/ once") or next;
        my $e = $got->[0];
        my $p = $e->{properties} // {};
        is($e->{event}, $w->{event}, "$what: event");
        is($e->{distinct_id}, $w->{properties}{distinct_id}, "$what: distinct_id");
        is($e->{_api_key}, $token, "$what: api_key $token");
        is($p->{token}, $token, "$what: properties.token");
        is($p->{'$browser'}, 'Chrome', "$what: \$browser Chrome");
        is($p->{'$current_url'}, $page_url, "$what: \$current_url the test page");
        is($p->{'$lib'}, 'web', "$what: \$lib web");
        is($p->{'$lib_version'}, $version, "$what: \$lib_version $version (the array.js served)");
        is($p->{'$ip'}, '127.0.0.1', "$what: \$ip the client");
        is($p->{'$session_id'}, $w->{properties}{'$session_id'}, "$what: \$session_id as sent");
    }

    my ($custom) = grep { ($_->{properties}{test_id} // '') eq "$run-custom" } @$events;
    ok($custom, 'the custom event, by its unique test_id') or return;
    is($custom->{distinct_id}, $anon, 'custom event: the anonymous id');
    is($custom->{properties}{text}, "h\x{e9}llo w\x{f6}rld \x{2713}", 'custom event: UTF-8 text');
    my ($id) = grep { $_->{event} eq '$identify' } @$events;
    is($id && $id->{distinct_id}, $user, '$identify: the new id');
    is($id && $id->{properties}{'$anon_distinct_id'}, $anon, '$identify: $anon_distinct_id');
    is($id && $id->{properties}{'$set'}{email}, "$user\@example.com", '$identify: $set');
};


subtest 'the events in the file' => sub {
    my $events = wait_for(sub {
        my $ev = $t->events('events.jsonl');
        my $by = index_by_uuid($ev);
        (grep { !$by->{$_} } keys %want) ? undef : $ev;
    }, 3) // $t->events('events.jsonl');
    my $by = index_by_uuid($events);
    for my $s (@sent) {
        my ($sent, $sent_at) = @$s;
        my $stored = $by->{$sent->{uuid}} // [];
        is(scalar @$stored, 1, "$sent->{event} $sent->{uuid} stored once") or next;
        check_event($stored->[0], $sent, token => $token, lib => 'web',
                    sent_at => $sent_at, window => [$t0, time]);
    }
};

$t->done;
ok(time - $T0 < 40, sprintf('done in %.1f s (under 40)', time - $T0));
done_testing;
