#!/usr/bin/perl
# The Segment and RudderStack destinations on the wire, against two
# stand-ins fed from one location, each checking every request against
# its service's API (StandIn spec profiles: no violation allowed, and
# answered as that service answers): POST {url}/v1/batch (a path in url
# kept), Basic auth with the write key as the user and an empty password,
# JSON ({batch, sentAt}) in the clear for Segment and in gzip for
# RudderStack, one Segment-spec message per PostHog event as
# docs/mappings.md maps them (page, identify, alias, group, track) with
# messageId = the client's uuid; a message over 32 KB dropped alone with
# a warn line; the write key never in error.log (not even when the
# destination refuses a batch); write_key $ENV_NAME read from the
# environment; write_key, url or the environment variable missing fail
# "nginx -t" with an [emerg] naming nginx.conf and the line.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json b64 iso_ms);
use StandIn;

use JSON::PP ();
use MIME::Base64 ();
use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

my $SEG_KEY = 'abc123';
my $RUD_KEY = 'xyz789';
my $ENV_KEY = sprintf 'envkey%d%04d', $$, int rand 10000;

# destination name => what is expected of it
my %d = (
    seg => { key => $SEG_KEY, prefix => '',             gzip => 0 },
    rud => { key => $RUD_KEY, prefix => '/some/prefix', gzip => 1 },
);

my $t = CaptureTest->new;
my %s = (
    seg => StandIn->new(dir => $t->dir, spec => 'segment',     write_key => $SEG_KEY),
    rud => StandIn->new(dir => $t->dir, spec => 'rudderstack', write_key => $RUD_KEY),
    env => StandIn->new(dir => $t->dir, spec => 'segment',     write_key => $ENV_KEY),
);

my $delivery = <<'EOF';
    flush_interval 100ms;
    retry_delay 100ms;
    retry_max_delay 200ms;
EOF

my $conf = <<"EOF";
capture_destination seg {
    type       segment;
    url        @{[ $s{seg}->url ]};
    write_key  $SEG_KEY;
$delivery}

capture_destination rud {
    type       rudderstack;
    url        @{[ $s{rud}->url ]}/some/prefix;
    write_key  $RUD_KEY;
$delivery}

capture_destination segenv {
    type       segment;
    url        @{[ $s{env}->url ]};
    write_key  \$CAPTURE_TEST_KEY;
$delivery}

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ { capture seg rud; }
    location /env/    { capture segenv; }
}
EOF

# nginx reads write_key $CAPTURE_TEST_KEY from its environment at start
$ENV{CAPTURE_TEST_KEY} = $ENV_KEY;
$t->write_conf($conf);
$t->start;

my $n_uuid = 0;

sub uuid {
    return sprintf '%08x-%04x-7%03x-8%03x-%012x',
        $$ & 0xffffffff, 0x0192, 0x345, 0x678, ++$n_uuid;
}

sub post {
    my ($path, $data) = @_;
    my $r = $t->request(method => 'POST', path => $path,
        body => encode_json($data),
        headers => { 'Content-Type' => 'application/json' });
    is($r->{status}, 200, "POST $path accepted") or diag explain $r;
    return $r;
}

# the messages of every request answered 2xx, in order
sub messages {
    my ($s) = @_;
    my @m;
    for my $r (@{$s->requests}) {
        next unless defined $r->{status} && $r->{status} =~ /^2\d\d$/;
        my $b = ref $r->{json} eq 'HASH' ? $r->{json}{batch} : undef;
        push @m, @$b if ref $b eq 'ARRAY';
    }
    return \@m;
}

sub wait_messages {
    my ($s, $n, $secs) = @_;
    my $deadline = time + $secs;
    for (;;) {
        my $m = messages($s);
        return $m if @$m >= $n || time > $deadline;
        sleep 0.05;
    }
}

sub keys_of { [sort keys %{ $_[0] // {} }] }

sub error_lines {
    my ($dest, $level) = @_;
    return grep { /\[\Q$level\E\]/ && /capture destination "\Q$dest\E"/ }
        split /\n/, $t->error_log;
}


# --- one batch of PostHog events, to both destinations ---

my $blob = 'x' x (40 * 1024);
my %ev = (
    page => { uuid => uuid(), event => '$pageview', distinct_id => 'anon-1',
        properties => {
            '$current_url' => 'https://shop.example/products/42?ref=mail#top',
            '$pathname'    => '/products/42',
            title          => 'Product 42',
            plan           => 'pro',
            '$session_id'  => 'sess-1',
        } },
    identify => { uuid => uuid(), event => '$identify', distinct_id => 'user-42',
        properties => {
            '$anon_distinct_id' => 'anon-1',
            '$set'      => { email => 'a@example.com', plan => 'pro' },
            '$set_once' => { first_seen => '2024-01-01', plan => 'free' },
        } },
    alias => { uuid => uuid(), event => '$create_alias', distinct_id => 'user-42',
        properties => { alias => 'anon-1' } },
    group => { uuid => uuid(), event => '$groupidentify', distinct_id => 'user-42',
        properties => {
            '$group_type' => 'company',
            '$group_key'  => 'acme',
            '$group_set'  => { name => 'Acme Inc', employees => 50 },
        } },
    big => { uuid => uuid(), event => 'Big Event', distinct_id => 'user-42',
        properties => { blob => $blob } },
    track => { uuid => uuid(), event => 'Order Completed', distinct_id => 'user-42',
        properties => {
            '$lib'           => 'posthog-node',
            '$lib_version'   => '4.2.1',
            '$is_identified' => JSON::PP::true,
            '$session_id'    => 'sess-1',
            revenue          => 19.99,
            currency         => 'EUR',
            items            => [ { sku => 'A-1', qty => 2 } ],
        } },
);
# the oversize event in the middle: the ones after it must still go
my @order = qw(page identify alias group big track);
my @kept = grep { $_ ne 'big' } @order;

my $t0 = time;
post('/ingest/batch/', { api_key => 'phc_segment', batch => [ map { $ev{$_} } @order ] });

for my $name (qw(seg rud)) {
    my $s = $s{$name};
    my $want = $d{$name};
    my $auth = 'Basic ' . b64("$want->{key}:");

    my $msgs = wait_messages($s, scalar @kept, 5);
    sleep 0.3;   # anything late (the oversize message, a second request)
    $msgs = messages($s);
    my $reqs = $s->requests;
    ok(@$reqs >= 1, "$name: requests arrived (" . scalar(@$reqs) . ')')
        or next;

    for my $i (0 .. $#$reqs) {
        my $r = $reqs->[$i];
        my $p = "$name: request $i";
        is($r->{method}, 'POST', "$p: POST");
        is($r->{path}, "$want->{prefix}/v1/batch", "$p: to $want->{prefix}/v1/batch");
        is($r->{query}, '', "$p: no query string");
        is($r->{headers}{authorization}, $auth,
           "$p: Authorization is Basic base64(\"$want->{key}:\")");
        like($r->{headers}{'content-type'} // '', qr{^application/json\b},
             "$p: Content-Type application/json");
        my $raw = MIME::Base64::decode_base64($r->{body_raw_b64});
        if ($want->{gzip}) {
            is($r->{headers}{'content-encoding'}, 'gzip', "$p: Content-Encoding gzip");
            is(substr($raw, 0, 2), "\x1f\x8b", "$p: the body on the wire is gzip");
            is($r->{error}, undef, "$p: the gzip body decodes");
        } else {
            ok(!exists $r->{headers}{'content-encoding'}, "$p: no Content-Encoding")
                or diag $r->{headers}{'content-encoding'};
            is(substr($raw, 0, 1), '{', "$p: the body on the wire is plain JSON");
        }
        is($r->{status}, 200, "$p: answered 200");
        is_deeply($r->{violations}, [], "$p: keeps the rules of the " . $s->spec . ' API')
            or diag explain $r->{violations};
        my $j = $r->{json};
        is(ref $j, 'HASH', "$p: the body is a JSON object") or next;
        is_deeply(keys_of($j), [qw(batch sentAt)], "$p: body keys batch, sentAt")
            or diag explain keys_of($j);
        like($j->{sentAt} // '', $ISO, "$p: sentAt is ISO UTC with ms");
        my $sent = iso_ms($j->{sentAt}) // 0;
        ok($sent >= int($t0 * 1000) - 5 && $sent <= $r->{t_ms} + 5,
           "$p: sentAt is the time of sending");
        is(ref $j->{batch}, 'ARRAY', "$p: batch is an array");
        ok(index($r->{body} // '', 'x' x 1024) < 0, "$p: the 40 KB property is not in it")
            or diag 'the body has ' . length($r->{body}) . ' bytes';
        cmp_ok(length($r->{body} // ''), '<=', 500 * 1024, "$p: at most 500 KB");
    }

    # the five small events, in order; not the oversize one
    is_deeply([map { $_->{messageId} } @$msgs], [map { $ev{$_}{uuid} } @kept],
              "$name: messageIds are the client's uuids, in order, without the oversize event")
        or diag explain [map { "$_->{type} " . ($_->{messageId} // '?') } @$msgs];
    ok(!grep({ ($_->{messageId} // '') eq $ev{big}{uuid} } @$msgs),
       "$name: the oversize event's message is absent");

    my %m = map { my $k = $_; my ($x) = grep { ($_->{messageId} // '') eq $ev{$k}{uuid} } @$msgs;
                  $k => $x // {} } @kept;

    for my $k (@kept) {
        my $msg = $m{$k};
        like($msg->{timestamp} // '', $ISO, "$name $k: timestamp ISO UTC with ms");
        my $ts = iso_ms($msg->{timestamp}) // 0;
        ok($ts >= int($t0 * 1000) - 1000 && $ts <= int(time * 1000) + 1000,
           "$name $k: timestamp is the time of capture");
        is($msg->{context}{ip}, '127.0.0.1', "$name $k: context.ip from \$ip");
        ok(!exists $msg->{sentAt}, "$name $k: no sentAt in the message");
        ok(!exists $msg->{integrations}, "$name $k: no integrations");
    }

    # $pageview -> page
    {
        my $msg = $m{page};
        is($msg->{type}, 'page', "$name page: type page");
        is_deeply(keys_of($msg),
                  [sort qw(type messageId timestamp anonymousId context name properties)],
                  "$name page: keys") or diag explain keys_of($msg);
        is($msg->{anonymousId}, 'anon-1', "$name page: anonymousId = distinct_id (not identified)");
        ok(!exists $msg->{userId}, "$name page: no userId");
        is($msg->{name}, 'Product 42', "$name page: name = title");
        is_deeply($msg->{properties}, {
                url    => 'https://shop.example/products/42?ref=mail#top',
                path   => '/products/42',
                title  => 'Product 42',
                search => '?ref=mail',
                plan   => 'pro',
            }, "$name page: properties = page fields + the properties without \$")
            or diag explain $msg->{properties};
        is_deeply($msg->{context}, {
                ip   => '127.0.0.1',
                page => {
                    path   => '/products/42',
                    search => '?ref=mail',
                    title  => 'Product 42',
                    url    => 'https://shop.example/products/42?ref=mail#top',
                },
            }, "$name page: context ip and page") or diag explain $msg->{context};
    }

    # $identify -> identify
    {
        my $msg = $m{identify};
        is($msg->{type}, 'identify', "$name identify: type identify");
        is_deeply(keys_of($msg),
                  [sort qw(type messageId timestamp userId anonymousId context traits)],
                  "$name identify: keys (no properties)") or diag explain keys_of($msg);
        is($msg->{userId}, 'user-42', "$name identify: userId = distinct_id");
        is($msg->{anonymousId}, 'anon-1', "$name identify: anonymousId = \$anon_distinct_id");
        is_deeply($msg->{traits},
                  { email => 'a@example.com', plan => 'pro', first_seen => '2024-01-01' },
                  "$name identify: traits = \$set, then \$set_once where \$set has none")
            or diag explain $msg->{traits};
        is_deeply($msg->{context}, { ip => '127.0.0.1' }, "$name identify: context")
            or diag explain $msg->{context};
    }

    # $create_alias -> alias
    {
        my $msg = $m{alias};
        is($msg->{type}, 'alias', "$name alias: type alias");
        is_deeply(keys_of($msg),
                  [sort qw(type messageId timestamp userId previousId context)],
                  "$name alias: keys (no anonymousId, no properties)")
            or diag explain keys_of($msg);
        is($msg->{previousId}, 'anon-1', "$name alias: previousId = properties.alias");
        is($msg->{userId}, 'user-42', "$name alias: userId = distinct_id");
        is_deeply($msg->{context}, { ip => '127.0.0.1' }, "$name alias: context")
            or diag explain $msg->{context};
    }

    # $groupidentify -> group
    {
        my $msg = $m{group};
        is($msg->{type}, 'group', "$name group: type group");
        is_deeply(keys_of($msg),
                  [sort qw(type messageId timestamp anonymousId context groupId traits)],
                  "$name group: keys (no properties)") or diag explain keys_of($msg);
        is($msg->{groupId}, 'acme', "$name group: groupId = \$group_key");
        is_deeply($msg->{traits}, { name => 'Acme Inc', employees => 50, group_type => 'company' },
                  "$name group: traits = \$group_set + group_type")
            or diag explain $msg->{traits};
        is($msg->{anonymousId}, 'user-42', "$name group: anonymousId = distinct_id (not identified)");
        ok(!exists $msg->{userId}, "$name group: no userId");
    }

    # a custom event -> track
    {
        my $msg = $m{track};
        is($msg->{type}, 'track', "$name track: type track");
        is_deeply(keys_of($msg),
                  [sort qw(type messageId timestamp userId context event properties)],
                  "$name track: keys") or diag explain keys_of($msg);
        is($msg->{event}, 'Order Completed', "$name track: event = the name");
        is($msg->{userId}, 'user-42', "$name track: userId (\$is_identified true)");
        ok(!exists $msg->{anonymousId}, "$name track: no anonymousId");
        is_deeply($msg->{context}{library}, { name => 'posthog-node', version => '4.2.1' },
                  "$name track: context.library from \$lib, \$lib_version");
        is_deeply(keys_of($msg->{context}), [qw(ip library)], "$name track: context ip, library");
        is_deeply($msg->{properties}, {
                '$is_identified' => JSON::PP::true,
                '$session_id'    => 'sess-1',
                revenue          => 19.99,
                currency         => 'EUR',
                items            => [ { sku => 'A-1', qty => 2 } ],
            }, "$name track: properties, without the \$ ones moved into context")
            or diag explain $msg->{properties};
        ok(JSON::PP::is_bool($msg->{properties}{'$is_identified'}),
           "$name track: \$is_identified stays a boolean");
    }

    # the oversize message: dropped alone, with a warn line
    my @warn = grep { /drop/i && /too large|too big|size|bytes|32\s*k/i }
        error_lines($name, 'warn');
    is(scalar @warn, 1, "$name: one warn line: the oversize message dropped for its size")
        or diag $t->error_log;
    is(scalar error_lines($name, 'error'), 0, "$name: no error line (the rest was delivered)")
        or diag join "\n", error_lines($name, 'error');
}


# --- write_key $CAPTURE_TEST_KEY from the environment ---
{
    my $u = uuid();
    post('/env/e/', { api_key => 'phc_segment', uuid => $u, event => 'env event',
                      distinct_id => 'user-env' });
    my $r = $s{env}->wait_requests(1, 5)->[0];
    is($r->{path}, '/v1/batch', 'env: to /v1/batch');
    is($r->{headers}{authorization}, 'Basic ' . b64("$ENV_KEY:"),
       'env: Authorization has the key from $CAPTURE_TEST_KEY');
    is_deeply([map { $_->{messageId} } @{ $r->{json}{batch} // [] }], [$u],
              'env: the message');
    is_deeply($r->{violations}, [], 'env: keeps the rules of the segment API (its key)')
        or diag explain $r->{violations};
}


# --- a 400: one [error] line, without the write key ---
{
    $s{seg}->mode('status', code => 400, count => 1,
                  body => '{"error":"Invalid batch","code":"invalid_request"}');
    $s{rud}->mode('status', code => 400, count => 1, body => 'Invalid request body',
                  content_type => 'text/plain');
    my %before = map { $_ => scalar @{$s{$_}->requests} } qw(seg rud);
    my $u = uuid();
    post('/ingest/e/', { api_key => 'phc_segment', uuid => $u, event => 'refused event',
                         distinct_id => 'user-42' });
    for my $name (qw(seg rud)) {
        $s{$name}->wait_requests($before{$name} + 1, 5);
    }
    sleep 0.5;   # more than retry_max_delay: a retry would show
    for my $name (qw(seg rud)) {
        my $reqs = $s{$name}->requests;
        is(scalar @$reqs, $before{$name} + 1, "$name 400: one request, not retried");
        is($reqs->[-1]{status}, 400, "$name 400: answered 400");
        my @err = error_lines($name, 'error');
        is(scalar @err, 1, "$name 400: one [error] line") or diag $t->error_log;
        like($err[0] // '', qr/refused with 400/, "$name 400: it says refused with 400")
            or diag $err[0];
        my $key = $d{$name}{key};
        my $b64 = b64("$key:");
        ok(defined $err[0] && index($err[0], $key) < 0 && index($err[0], $b64) < 0,
           "$name 400: the [error] line has no write key") or diag $err[0];
    }
}


# --- nothing the module sent broke a rule, retries included ---
for my $name (sort keys %s) {
    is_deeply($s{$name}->violations, [], "$name: no " . $s{$name}->spec
              . ' spec violation in all ' . scalar(@{$s{$name}->requests}) . ' requests')
        or diag explain $s{$name}->violations;
}


# --- the write keys never in error.log ---
{
    my $log = $t->error_log;
    for my $key ($SEG_KEY, $RUD_KEY, $ENV_KEY) {
        my $b64 = b64("$key:");
        ok(index($log, $key) < 0, "error.log has no write key $key");
        ok(index($log, $b64) < 0, "error.log has no Basic credentials of $key");
    }
}

$t->done;
for my $s (values %s) { $s->stop }


# --- configuration errors: nginx -t fails, [emerg] names nginx.conf:line ---

sub broken {
    my ($name, $http, $reason, $at) = @_;
    my $c = CaptureTest->new;
    $c->write_conf($http);

    my ($ok, $out) = $c->conf_test;
    ok(!$ok, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: an [emerg]") or diag $out;
    like($out, $reason, "$name: reason") or diag $out;

    my @conf = split /\n/, $c->conf;
    my @want = grep { $conf[$_ - 1] =~ $at } 1 .. @conf;
    my $file = $c->dir . '/nginx.conf';
    is(scalar @want, 1, "$name: (the test finds its line in nginx.conf)");
    like($out, qr/\Q$file\E:$want[0]\b/, "$name: names $file:$want[0]") or diag $out;

    $c->done;
}

my $server = <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture d; }
}
EOF

sub dest {
    my (@lines) = @_;
    return "capture_destination d {\n" . join('', map { "    $_\n" } @lines) . "}\n";
}

delete $ENV{CAPTURE_TEST_UNSET_KEY};

for my $type (qw(segment rudderstack)) {
    broken("$type: write_key from an unset environment variable",
           dest("type $type;", 'url http://127.0.0.1:9;',
                'write_key $CAPTURE_TEST_UNSET_KEY;') . $server,
           qr/\[emerg\].*CAPTURE_TEST_UNSET_KEY.*(environment|not set|unset|undefined|empty)|\[emerg\].*(environment|not set|unset|undefined).*CAPTURE_TEST_UNSET_KEY/i,
           qr/write_key \$CAPTURE_TEST_UNSET_KEY/);

    broken("$type: no write_key",
           dest("type $type;", 'url http://127.0.0.1:9;') . $server,
           qr/\[emerg\].*capture destination "d".*(has no|needs|missing|required).*"write_key"/,
           qr/^capture_destination d \{/);

    broken("$type: no url",
           dest("type $type;", 'write_key abc123;') . $server,
           qr/\[emerg\].*capture destination "d".*has no "url"/,
           qr/^capture_destination d \{/);
}

done_testing;
