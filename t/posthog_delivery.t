#!/usr/bin/perl
# The PostHog destination on the wire: each request is what PostHog's
# /batch/ API takes (POST, JSON in gzip, {api_key, batch, sent_at}, the
# client's uuids and $ip), batches close by count, by bytes and by time,
# one token and one kind (events, recordings, historical) per request,
# and the shape is the one posthog-node itself sends.  Against the
# stand-in PostHog (t/lib/StandIn.pm).

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json iso_ms);
use StandIn;

use JSON::PP ();
use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $ROOT = "$FindBin::Bin/..";
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

my $t = CaptureTest->new;
my %s = map { $_ => StandIn->new(dir => $t->dir) }
    qw(shape count bytes time tokens kinds node);

my $conf = <<'EOF';
capture_destination local { type file; path %%DIR%%/events.jsonl; }

capture_destination shape {
    type posthog;
    url %%URL_shape%%;
    flush_interval 100ms;
}

capture_destination count {
    type posthog;
    url %%URL_count%%/;
    batch_size 5;
    flush_interval 1s;
}

capture_destination bytes {
    type posthog;
    url %%URL_bytes%%;
    batch_bytes 1k;
    flush_interval 2s;
}

capture_destination time {
    type posthog;
    url %%URL_time%%;
    flush_interval 1s;
}

capture_destination tokens {
    type posthog;
    url %%URL_tokens%%;
    flush_interval 500ms;
}

capture_destination kinds {
    type posthog;
    url %%URL_kinds%%;
    flush_interval 500ms;
}

server {
    listen 127.0.0.1:%%PORT%%;

    location /both/   { capture local shape; }
    location /count/  { capture count; }
    location /bytes/  { capture bytes; }
    location /time/   { capture time; }
    location /tokens/ { capture tokens; }
    location /kinds/  { capture kinds; }
}
EOF
$conf =~ s/%%URL_(\w+)%%/$s{$1}->url/ge;
$t->write_conf($conf);
$t->start;

my $JSON = JSON::PP->new->utf8->canonical;
my $n_uuid = 0;

sub uuid {
    return sprintf '%08x-%04x-7%03x-8%03x-%012x',
        $$ & 0xffffffff, 0x0190, 0x123, 0x456, ++$n_uuid;
}

sub ev {
    my ($name, %o) = @_;
    # token => undef: none in the event (the body's api_key gives it)
    my $token = exists $o{token} ? delete $o{token} : 'phc_delivery';
    my %props = (defined $token ? (token => $token) : (),
                 %{ delete $o{props} // {} });
    return { uuid => uuid(), event => $name, distinct_id => 'user-1',
        properties => \%props, %o };
}

sub post {
    my ($path, $data) = @_;
    my $r = $t->request(method => 'POST', path => $path,
        body => ref $data ? encode_json($data) : $data,
        headers => { 'Content-Type' => 'application/json' });
    is($r->{status}, 200, "POST $path accepted") or diag explain $r;
    return $r;
}

# the JSON type of a decoded value
sub jtype {
    my ($v) = @_;
    return 'null' unless defined $v;
    return 'object' if ref $v eq 'HASH';
    return 'array' if ref $v eq 'ARRAY';
    return 'boolean' if JSON::PP::is_bool($v);
    return JSON::PP->new->allow_nonref->encode($v) =~ /^"/ ? 'string' : 'number';
}

sub types_of {
    my ($h) = @_;
    return { map { $_ => jtype($h->{$_}) } keys %$h };
}

sub uuids_of {
    my ($req) = @_;
    return [ map { $_->{uuid} } @{ $req->{json}{batch} // [] } ];
}

# the events of a request body exactly as sent: the text between
# "batch":[ and ],"sent_at" is the items joined by commas
sub batch_text {
    my ($req) = @_;
    return $req->{body} =~ /"batch":\[(.*)\],"sent_at":/s ? $1 : undef;
}

# no more requests than $n within $secs
sub no_more {
    my ($s, $n, $secs, $name) = @_;
    sleep $secs;
    is(scalar @{$s->requests}, $n, $name)
        or diag explain [ map { "$_->{path} " . scalar @{uuids_of($_)} }
                          @{$s->requests} ];
}


# --- the body, the headers, and the file destination beside it ---

my $shape_req;
{
    my @evs = (ev('shape one', props => { plan => 'pro', n => 3,
                   nested => { a => [1, 'b', undef] } }),
               ev('shape two', distinct_id => 'user-2',
                   timestamp => '2024-05-06T07:08:09.010Z'),
               ev('$pageview', props => { '$current_url' => 'https://x.example/p' }));
    my $t0 = time;
    post('/both/batch/', { api_key => 'phc_delivery', batch => \@evs });

    my $r = $s{shape}->wait_requests(1, 5)->[0];
    $shape_req = $r;
    my $file = $t->events('events.jsonl');

    is($r->{method}, 'POST', 'shape: POST');
    is($r->{path}, '/batch/', 'shape: to /batch/');
    is($r->{query}, '', 'shape: no query string');
    is($r->{headers}{'content-type'}, 'application/json',
       'shape: Content-Type application/json');
    is($r->{headers}{'content-encoding'}, 'gzip', 'shape: Content-Encoding gzip');
    like($r->{headers}{'user-agent'} // '', qr{^ngx_http_capture_module/\d},
         'shape: User-Agent ngx_http_capture_module/VERSION');
    ok(!exists $r->{headers}{expect}, 'shape: no Expect: 100-continue');
    is($r->{error}, undef, 'shape: the gzip body decodes');
    is(substr(MIME::Base64::decode_base64($r->{body_raw_b64}), 0, 2), "\x1f\x8b",
       'shape: the body on the wire is gzip');
    is($r->{status}, 200, 'shape: answered 200');

    my $j = $r->{json};
    is(ref $j, 'HASH', 'shape: the body is a JSON object') or BAIL_OUT('no body');
    is_deeply([sort keys %$j], [qw(api_key batch sent_at)],
              'shape: top-level keys api_key, batch, sent_at');
    is($j->{api_key}, 'phc_delivery', 'shape: api_key is the token');
    like($j->{sent_at}, $ISO, 'shape: sent_at is ISO UTC with ms');
    my $sent_at = iso_ms($j->{sent_at}) // 0;
    ok($sent_at >= int($t0 * 1000) - 5 && $sent_at <= $r->{t_ms} + 5,
       'shape: sent_at is the time of sending');
    is(ref $j->{batch}, 'ARRAY', 'shape: batch is an array');
    is(scalar @{$j->{batch}}, 3, 'shape: one request holds all three events');

    is_deeply(uuids_of($r), [map { $_->{uuid} } @evs],
              'shape: the uuids as the client sent them, in order');
    is_deeply([map { $_->{uuid} } @$file], [map { $_->{uuid} } @evs],
              'shape: and as the file destination wrote them');

    for my $i (0 .. $#evs) {
        my ($got, $sent, $rec) = ($j->{batch}[$i], $evs[$i], $file->[$i]);
        my $name = "shape: event $i ($sent->{event})";
        is_deeply([sort keys %$got], [qw(distinct_id event properties timestamp uuid)],
                  "$name: keys uuid, event, distinct_id, timestamp, properties");
        is($got->{event}, $sent->{event}, "$name: event name");
        is($got->{distinct_id}, $sent->{distinct_id}, "$name: distinct_id");
        like($got->{timestamp}, $ISO, "$name: timestamp ISO UTC with ms");
        is($got->{timestamp}, $rec->{timestamp}, "$name: timestamp as in the file");
        is($got->{properties}{'$ip'}, '127.0.0.1', "$name: properties.\$ip is the client");
        is_deeply($got->{properties}, $rec->{properties},
                  "$name: properties as in the file");
        for my $k (keys %{$sent->{properties}}) {
            is_deeply($got->{properties}{$k}, $sent->{properties}{$k},
                      "$name: property $k kept");
        }
    }
    is($j->{batch}[1]{timestamp}, '2024-05-06T07:08:09.010Z',
       'shape: a timestamp the client gave is kept');
}

# a single event (/e/) without a uuid: the module's uuid, the same in both
{
    post('/both/e/', { event => 'no uuid', distinct_id => 'user-3',
                       properties => { token => 'phc_delivery' } });
    my $r = $s{shape}->wait_requests(2, 5)->[1];
    my $file = $t->events('events.jsonl');
    is(scalar @{uuids_of($r)}, 1, 'uuid made here: one event');
    like(uuids_of($r)->[0] // '', $UUID, 'uuid made here: a uuid');
    is(uuids_of($r)->[0], $file->[-1]{uuid}, 'uuid made here: the same in the file');
}


# --- by count: batch_size 5, 12 events -> 5, 5, then 2 after flush_interval ---
{
    my (@evs, @sent);
    for my $i (1 .. 12) {
        push @evs, ev("count $i");
        post('/count/e/', $evs[-1]);
        push @sent, time;
    }
    my $reqs = $s{count}->wait_requests(3, 5);
    is_deeply([map { scalar @{uuids_of($_)} } @$reqs], [5, 5, 2],
              'count: batches of 5, 5 and 2');
    is_deeply([map { @{uuids_of($_)} } @$reqs], [map { $_->{uuid} } @evs],
              'count: every event once, in order');
    is_deeply([map { $_->{path} } @$reqs], ['/batch/', '/batch/', '/batch/'],
              'count: to /batch/ (a trailing slash in url is not doubled)');
    my $gap1 = $reqs->[0]{t_ms} / 1000 - $sent[4];
    my $gap2 = $reqs->[1]{t_ms} / 1000 - $sent[9];
    cmp_ok($gap1, '<', 0.5, sprintf('count: the 1st batch left with its 5th event (%.3f s)', $gap1));
    cmp_ok($gap2, '<', 0.5, sprintf('count: the 2nd batch left with its 10th event (%.3f s)', $gap2));
    my $gap3 = $reqs->[2]{t_ms} / 1000 - $sent[10];
    cmp_ok($gap3, '>=', 0.95, sprintf('count: the last 2 waited flush_interval (%.3f s after the 11th)', $gap3));
    cmp_ok($gap3, '<=', 1.5, 'count: and not much longer');
    no_more($s{count}, 3, 0.3, 'count: exactly three requests');
}


# --- by bytes: batch_bytes 1k, each event about 430 bytes -> two a request ---
{
    my @evs = map { ev("bytes $_", props => { pad => 'p' x 250 }) } 1 .. 6;
    my $t0 = time;
    post('/bytes/e/', $_) for @evs;

    my $reqs = $s{bytes}->wait_requests(2, 3);
    my $quick = time - $t0;
    is_deeply([map { scalar @{uuids_of($_)} } @$reqs[0, 1]], [2, 2],
              'bytes: the first two requests hold two events each');
    cmp_ok($quick, '<', 1.5, sprintf('bytes: they left before flush_interval (%.2f s)', $quick));

    # each item's length: the batch text is the items joined by commas
    my $text = batch_text($reqs->[0]) // '';
    my $len = (length($text) - 1) / 2;
    ok($len * 2 < 1024 && $len * 3 >= 1024,
       "bytes: two events ($len bytes each) fit in 1k, three do not")
        or diag $text;

    $reqs = $s{bytes}->wait_requests(3, 4);
    is_deeply([map { scalar @{uuids_of($_)} } @$reqs], [2, 2, 2],
              'bytes: the last two after flush_interval');
    cmp_ok($reqs->[2]{t_ms} / 1000 - $t0, '>=', 1.9, 'bytes: at flush_interval (2 s)');
    is_deeply([map { @{uuids_of($_)} } @$reqs], [map { $_->{uuid} } @evs],
              'bytes: every event once, in order');
    for my $i (0 .. 2) {
        my $bt = batch_text($reqs->[$i]) // '';
        cmp_ok(length($bt), '<=', 1024, "bytes: request $i carries at most 1k of events");
    }

    # one event larger than batch_bytes goes at once, alone
    my $big = ev('bytes big', props => { pad => 'B' x 2000 });
    my $t1 = time;
    post('/bytes/e/', $big);
    $reqs = $s{bytes}->wait_requests(4, 3);
    is_deeply(uuids_of($reqs->[3]), [$big->{uuid}], 'bytes: a 2k event alone');
    cmp_ok($reqs->[3]{t_ms} / 1000 - $t1, '<', 1, 'bytes: at once, not at flush_interval');
    no_more($s{bytes}, 4, 0.3, 'bytes: exactly four requests');
}


# --- by time: one event leaves after flush_interval (1 s) ---
{
    my $e = ev('time one');
    my $t0 = time;
    post('/time/e/', $e);
    my $r = $s{time}->wait_requests(1, 4)->[0];
    my $took = $r->{t_ms} / 1000 - $t0;
    is_deeply(uuids_of($r), [$e->{uuid}], 'time: the event');
    cmp_ok($took, '>=', 0.95, sprintf('time: sent after flush_interval (%.3f s)', $took));
    cmp_ok($took, '<=', 1.5, 'time: and not much later');
}


# --- one token per request ---
{
    my @evs = (ev('tok A1', token => 'phc_token_a'), ev('tok B1', token => 'phc_token_b'),
               ev('tok A2', token => 'phc_token_a'), ev('tok B2', token => 'phc_token_b'),
               ev('tok A3', token => 'phc_token_a'));
    post('/tokens/e/', $_) for @evs;
    my ($b3, $b4) = (ev('tok B3', token => undef), ev('tok B4', token => undef));
    post('/tokens/batch/', { api_key => 'phc_token_b', batch => [ $b3, $b4 ] });
    my %token = map { $_->{uuid} => $_->{properties}{token} // 'phc_token_b' } @evs, $b3, $b4;

    my $reqs = $s{tokens}->wait_requests(2, 4);
    no_more($s{tokens}, 2, 0.7, 'tokens: two requests, one for each token');
    is_deeply([map { $_->{json}{api_key} } @$reqs], ['phc_token_a', 'phc_token_b'],
              'tokens: the older token first');
    for my $r (@$reqs) {
        my $key = $r->{json}{api_key} // '?';
        is_deeply([map { $token{$_} } @{uuids_of($r)}], [($key) x @{uuids_of($r)}],
                  "tokens: every event of the $key request is of $key");
    }
    is_deeply(uuids_of($reqs->[0]), [map { $_->{uuid} } @evs[0, 2, 4]],
              'tokens: A1, A2, A3 together, in order');
    is_deeply(uuids_of($reqs->[1]), [map { $_->{uuid} } @evs[1, 3], $b3, $b4],
              'tokens: B1, B2, B3, B4 together, in order');
}


# --- recordings to /s/, historical_migration carried, never mixed ---
{
    my $e = ev('kinds event', token => 'phc_kinds');
    my $sid = '0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000';
    my $snap = { uuid => uuid(), event => '$snapshot', distinct_id => 'user-1',
        properties => { token => 'phc_kinds', '$session_id' => $sid,
            '$snapshot_data' => [ { type => 2, data => { x => 1 } } ] } };
    my @hist = (ev('kinds old 1', token => undef, timestamp => '2020-01-02T03:04:05.006Z'),
                ev('kinds old 2', token => undef, timestamp => '2020-01-02T03:04:06.007Z'));

    post('/kinds/e/', $e);
    post('/kinds/s/', [ $snap ]);
    post('/kinds/batch/', { api_key => 'phc_kinds', historical_migration => JSON::PP::true,
                            batch => \@hist });

    my $reqs = $s{kinds}->wait_requests(3, 4);
    no_more($s{kinds}, 3, 0.7, 'kinds: three requests: event, recording, historical');
    my ($ev_req) = grep { $_->{path} eq '/batch/' && !exists $_->{json}{historical_migration} } @$reqs;
    my ($s_req) = grep { $_->{path} eq '/s/' } @$reqs;
    my ($h_req) = grep { $_->{path} eq '/batch/' && exists $_->{json}{historical_migration} } @$reqs;

    ok($ev_req && $s_req && $h_req, 'kinds: one to /batch/, one to /s/, one historical')
        or diag explain [ map { { path => $_->{path}, json => $_->{json} } } @$reqs ];
    is_deeply($ev_req && uuids_of($ev_req), [$e->{uuid}], 'kinds: the event to /batch/');

    is_deeply($s_req && uuids_of($s_req), [$snap->{uuid}], 'kinds: the recording to /s/');
    is($s_req && $s_req->{headers}{'content-encoding'}, 'gzip', 'kinds: /s/ in gzip');
    is_deeply($s_req && [sort keys %{$s_req->{json}}], [qw(api_key batch sent_at)],
              'kinds: /s/ body api_key, batch, sent_at');
    is($s_req && $s_req->{json}{api_key}, 'phc_kinds', 'kinds: /s/ api_key');
    my $sp = $s_req ? $s_req->{json}{batch}[0]{properties} : {};
    is($sp->{'$session_id'}, $sid, 'kinds: $session_id kept');
    is_deeply($sp->{'$snapshot_data'}, $snap->{properties}{'$snapshot_data'},
              'kinds: $snapshot_data kept');

    is_deeply($h_req && [sort keys %{$h_req->{json}}],
              [qw(api_key batch historical_migration sent_at)],
              'kinds: historical body adds historical_migration');
    ok($h_req && JSON::PP::is_bool($h_req->{json}{historical_migration})
       && $h_req->{json}{historical_migration}, 'kinds: historical_migration is true');
    is_deeply($h_req && uuids_of($h_req), [map { $_->{uuid} } @hist],
              'kinds: the historical events together');
    is_deeply($h_req && [map { $_->{timestamp} } @{$h_req->{json}{batch}}],
              [map { $_->{timestamp} } @hist], 'kinds: their old timestamps kept');
    is($h_req && $h_req->{path}, '/batch/', 'kinds: historical to /batch/');
}


# --- the same shape as posthog-node's own requests ---
SKIP: {
    skip 'node_modules/posthog-node is missing (make deps)', 8
        unless -d "$ROOT/node_modules/posthog-node";

    my $js = <<'JS';
const { PostHog } = require('posthog-node');
(async () => {
    const c = new PostHog(process.argv[1], { host: process.argv[2], flushAt: 1, flushInterval: 0 });
    c.on('error', (e) => { console.error(String(e)); process.exitCode = 1; });
    c.capture({ distinctId: 'node-user', event: 'node event', properties: { plan: 'pro' } });
    await c.shutdown();
})();
JS
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        chdir $ROOT or POSIX::_exit(126);
        open STDIN, '<', '/dev/null';
        exec 'timeout', '-k', '5', '20', 'node', '-e', $js, 'phc_node', $s{node}->url
            or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    is($? >> 8, 0, 'posthog-node: captured and shut down without an error');

    my $node = $s{node}->wait_requests(1, 5)->[0];
    my $mine = $shape_req;
    is("$node->{method} $node->{path}", "$mine->{method} $mine->{path}",
       "posthog-node: same method and path ($node->{method} $node->{path})");
    is($mine->{headers}{'content-type'}, $node->{headers}{'content-type'},
       'posthog-node: same Content-Type');
    is($mine->{headers}{'content-encoding'}, $node->{headers}{'content-encoding'},
       'posthog-node: same Content-Encoding');

    my ($nj, $mj) = ($node->{json}, $mine->{json});
    is_deeply(types_of($mj), types_of($nj), 'posthog-node: same top-level keys and types')
        or diag explain { node => types_of($nj), module => types_of($mj) };
    my ($ne, $me) = ($nj->{batch}[0], $mj->{batch}[0]);
    is_deeply(types_of($me), types_of($ne), 'posthog-node: same per-event keys and types')
        or diag explain { node => types_of($ne), module => types_of($me) };
    is_deeply([map { /$ISO/ ? 'iso' : $_ } $me->{timestamp}, $mj->{sent_at}],
              [map { /$ISO/ ? 'iso' : $_ } $ne->{timestamp}, $nj->{sent_at}],
              'posthog-node: timestamp and sent_at in the same format');
    ok($ne->{uuid} =~ $UUID && $me->{uuid} =~ $UUID, 'posthog-node: uuids in the same format');
}

$t->done;
done_testing;
