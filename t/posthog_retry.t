#!/usr/bin/perl
# Retries of the PostHog destination against the stand-in: 5xx, 429
# with Retry-After, connection refused, a destination that hangs or
# closes are retried until delivered, each uuid delivered once; 400 and
# 501 are dropped at once with an [error] line; the backoff (full
# jitter) stays within its bounds.

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

my $t = CaptureTest->new;
my @names = qw(r500 r429 r400 r501 rref rhang rclose rback);
my %s = map { $_ => StandIn->new(dir => $t->dir) } @names;

# every destination flushes at once; backoff small unless said
my %extra = (
    rhang => "timeout 1s;\n",
    rback => "retry_delay 200ms;\n        retry_max_delay 400ms;\n",
);

my $conf = '';
for my $n (@names) {
    my $url = $s{$n}->url;
    my $backoff = $extra{$n} // '';
    $backoff .= "retry_delay 100ms;\n        retry_max_delay 200ms;\n"
        unless $backoff =~ /retry_delay/;
    $conf .= <<"EOF";
capture_destination $n {
    type posthog;
    url $url;
    flush_interval 50ms;
    $backoff
}
EOF
}
$conf .= "server {\n    listen 127.0.0.1:%%PORT%%;\n";
$conf .= "    location /$_/ { capture $_; }\n" for @names;
$conf .= "}\n";

$t->write_conf($conf);
$t->start;

my $n_uuid = 0;

sub uuid {
    return sprintf '%08x-%04x-7%03x-8%03x-%012x',
        $$ & 0xffffffff, 0x0191, 0x234, 0x567, ++$n_uuid;
}

# one request of $n events to destination $dest; returns their uuids
sub send_events {
    my ($dest, $n) = @_;
    my @evs = map { { uuid => uuid(), event => "$dest $_", distinct_id => 'u1' } } 1 .. $n;
    my $r = $t->request(method => 'POST', path => "/$dest/batch/",
        body => encode_json({ api_key => 'phc_retry', batch => \@evs }),
        headers => { 'Content-Type' => 'application/json' });
    is($r->{status}, 200, "$dest: $n events accepted") or diag explain $r;
    return [ map { $_->{uuid} } @evs ];
}

sub uuids_of {
    my ($req) = @_;
    return [ map { $_->{uuid} } @{ $req->{json}{batch} // [] } ];
}

# the error.log lines about destination $dest at $level
sub log_lines {
    my ($dest, $level) = @_;
    return grep { /\[\Q$level\E\]/ && /capture destination "\Q$dest\E"/ }
        split /\n/, $t->error_log;
}

sub statuses {
    my ($reqs) = @_;
    return [ map { $_->{status} // ($_->{closed} ? 'closed' : $_->{hung} ? 'hung' : 'none') } @$reqs ];
}

# each uuid of $want exactly once among the events answered 2xx
sub delivered_once {
    my ($dest, $want) = @_;
    my $ev = $s{$dest}->events;
    is_deeply([sort map { $_->{uuid} } @$ev], [sort @$want],
              "$dest: each uuid delivered exactly once");
}


# --- 500 for the first two requests, then ok ---
{
    $s{r500}->mode('status', code => 500, body => '{"error":"boom"}', count => 2);
    my $u = send_events('r500', 3);
    my $reqs = $s{r500}->wait_requests(3, 5);
    sleep 0.5;
    $reqs = $s{r500}->requests;
    is_deeply(statuses($reqs), [500, 500, 200], 'r500: 500, 500, then 200');
    is_deeply([map { uuids_of($_) } @$reqs], [($u) x 3], 'r500: each attempt the same batch');
    delivered_once('r500', $u);
    my @warn = log_lines('r500', 'warn');
    is(scalar @warn, 2, 'r500: two warn lines') or diag join "\n", @warn;
    like($warn[0] // '', qr/3 events, attempt 1 answered 500 "\{"error":"boom"\}", retry in \d+ ms/,
         'r500: the first names the attempt, the status and the answer');
    like($warn[1] // '', qr/3 events, attempt 2 answered 500 /, 'r500: the second attempt 2');
    is(scalar log_lines('r500', 'error'), 0, 'r500: no error line');
}


# --- 429 with Retry-After: 2, the retry not before 2 s ---
{
    $s{r429}->mode('status', code => 429, retry_after => 2, count => 1);
    my $u = send_events('r429', 1);
    my $reqs = $s{r429}->wait_requests(2, 5);
    is_deeply(statuses($reqs), [429, 200], 'r429: 429, then 200');
    my $gap = ($reqs->[1]{t_ms} - $reqs->[0]{t_answer_ms}) / 1000;
    cmp_ok($gap, '>=', 1.95, sprintf('r429: retried %.3f s after the 429 (Retry-After 2)', $gap));
    cmp_ok($gap, '<=', 2.5, 'r429: not much later (the jitter is smaller)');
    delivered_once('r429', $u);
    my @warn = log_lines('r429', 'warn');
    is(scalar @warn, 1, 'r429: one warn line');
    like($warn[0] // '', qr/attempt 1 answered 429 .*retry in 2000 ms/,
         'r429: the delay is Retry-After, 2000 ms');
}


# --- 400 and 501: refused for good, one [error] line ---
for my $case ([r400 => 400, '{"type":"validation_error","detail":"Invalid payload"}'],
              [r501 => 501, 'Not Implemented here']) {
    my ($dest, $code, $text) = @$case;
    $s{$dest}->mode('status', code => $code, body => $text, count => 1,
                    content_type => ($text =~ /^\{/ ? 'application/json' : 'text/plain'));
    my $u = send_events($dest, 2);
    $s{$dest}->wait_requests(1, 5);
    sleep 1;   # five times retry_max_delay
    my $reqs = $s{$dest}->requests;
    is_deeply(statuses($reqs), [$code], "$dest: exactly one request, answered $code");
    is_deeply($reqs->[0] && uuids_of($reqs->[0]), $u, "$dest: with the events");
    is_deeply($s{$dest}->events, [], "$dest: nothing delivered");
    my @err = log_lines($dest, 'error');
    is(scalar @err, 1, "$dest: one error line") or diag $t->error_log;
    like($err[0] // '', qr/capture destination "$dest": 2 events refused with $code and dropped: "\Q$text\E"/,
         "$dest: it names the destination, the status and the answer");
    is(scalar log_lines($dest, 'warn'), 0, "$dest: no retry warning");
}


# --- connection refused, then accepted again ---
{
    $s{rref}->refuse;
    my $u = send_events('rref', 2);
    sleep 1;
    my @warn = log_lines('rref', 'warn');
    cmp_ok(scalar @warn, '>=', 2, 'rref: attempts while refused: ' . scalar @warn);
    like($warn[0] // '', qr/2 events, attempt 1 failed: .*(refused|connect)/i,
         'rref: the warn line says the connection failed');
    is(scalar @{$s{rref}->requests}, 0, 'rref: nothing arrived');
    $s{rref}->accept;
    my $reqs = $s{rref}->wait_events(2, 3);
    sleep 0.3;
    is_deeply(statuses($s{rref}->requests), [200], 'rref: one request once accepted again');
    delivered_once('rref', $u);
}


# --- a destination that hangs: timeout 1s, retried, delivered once ok ---
{
    $s{rhang}->mode('hang');
    my $u = send_events('rhang', 1);
    my $reqs = $s{rhang}->wait_requests(2, 4);
    $s{rhang}->mode('ok');
    $reqs = $s{rhang}->wait_events(1, 4);
    $reqs = $s{rhang}->requests;
    my @st = @{statuses($reqs)};
    is($st[-1], 200, 'rhang: delivered once the stand-in is ok');
    is_deeply([@st[0 .. $#st - 1]], [('hung') x (@st - 1)], 'rhang: every earlier attempt hung')
        or diag explain \@st;
    for my $i (1 .. $#$reqs) {
        my $gap = ($reqs->[$i]{t_ms} - $reqs->[$i - 1]{t_ms}) / 1000;
        cmp_ok($gap, '>=', 0.98, sprintf('rhang: attempt %d %.3f s after the one before (timeout 1s)', $i + 1, $gap));
        cmp_ok($gap, '<=', 1.5, "rhang: attempt " . ($i + 1) . ' not much later');
    }
    isnt($reqs->[-1]{conn}, $reqs->[0]{conn}, 'rhang: a new connection, not the hung one');
    delivered_once('rhang', $u);
    my @warn = log_lines('rhang', 'warn');
    is(scalar @warn, @st - 1, 'rhang: a warn line for each timeout');
    like($warn[0] // '', qr/attempt 1 failed: .*timed out/i, 'rhang: it says timed out');
}


# --- a destination that closes the connection without answering ---
{
    $s{rclose}->mode('close', count => 2);
    my $u = send_events('rclose', 2);
    $s{rclose}->wait_events(2, 5);
    sleep 0.3;
    my $reqs = $s{rclose}->requests;
    is_deeply(statuses($reqs), ['closed', 'closed', 200], 'rclose: closed, closed, then 200');
    is_deeply([map { uuids_of($_) } @$reqs], [($u) x 3], 'rclose: each attempt the same batch');
    delivered_once('rclose', $u);
    my @warn = log_lines('rclose', 'warn');
    is(scalar @warn, 2, 'rclose: two warn lines') or diag join "\n", @warn;
    like($warn[0] // '', qr/attempt 1 failed: /, 'rclose: attempt 1 failed');
}


# --- backoff bounds: retry_delay 200ms, retry_max_delay 400ms ---
{
    $s{rback}->mode('status', code => 503, count => 8);
    my $u = send_events('rback', 1);
    my $reqs = $s{rback}->wait_requests(9, 8);
    is_deeply(statuses($reqs), [(503) x 8, 200], 'rback: eight 503s, then 200');
    delivered_once('rback', $u);

    my @gaps = map { ($reqs->[$_]{t_ms} - $reqs->[$_ - 1]{t_answer_ms}) / 1000 } 1 .. $#$reqs;
    cmp_ok($gaps[0], '<=', 0.25, sprintf('rback: the first retry within 0.25 s (%.3f)', $gaps[0]));
    cmp_ok($gaps[0], '>=', 0, 'rback: and not before the answer');
    # the slack above is for a loaded machine (timers fire late, never early)
    my @over = grep { $_ > 0.45 + 0.25 } @gaps;
    ok(!@over, 'rback: no two attempts more than 0.45 s (+0.25 s slack) apart: '
        . join(' ', map { sprintf '%.3f', $_ } @gaps));

    # the delays drawn, as logged: in [0, 200] for attempt 1, [0, 400] after
    my @warn = log_lines('rback', 'warn');
    is(scalar @warn, 8, 'rback: a warn line for each 503');
    my @delays = map { /attempt (\d+) answered 503 .*retry in (\d+) ms/ ? [$1, $2] : () } @warn;
    is_deeply([map { $_->[0] } @delays], [1 .. 8], 'rback: attempts 1 to 8');
    ok($delays[0] && $delays[0][1] <= 200, "rback: attempt 1 waits <= 200 ms ($delays[0][1])");
    my @bad = grep { $_->[1] > 400 } @delays;
    ok(!@bad, 'rback: no delay over retry_max_delay: '
        . join(' ', map { $_->[1] } @delays));
    for my $i (0 .. $#delays) {
        my $gap_ms = $gaps[$i] * 1000;
        ok($gap_ms >= $delays[$i][1] - 5 && $gap_ms <= $delays[$i][1] + 250,
           sprintf('rback: attempt %d came %.0f ms after the answer, as logged (%d ms)',
                   $i + 2, $gap_ms, $delays[$i][1]));
    }
}

$t->done;
done_testing;
