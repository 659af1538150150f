#!/usr/bin/perl
# The PostHog destination across the life of nginx: a graceful quit
# sends what is queued before the worker exits (without waiting for
# flush_interval), a reload lets the old worker finish its transfers and
# then exit, capture_drain_timeout bounds the wait for a destination
# that is down (an [alert] counts the events lost), and a fast stop
# (TERM) says how many events it loses.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use StandIn;

use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $n_uuid = 0;

sub uuid {
    return sprintf '%08x-%04x-7%03x-8%03x-%012x',
        $$ & 0xffffffff, 0x0193, 0x456, 0x789, ++$n_uuid;
}

# nginx with one destination "ph" at the stand-in, with these parameters
sub setup {
    my ($params, %o) = @_;
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    my $url = $s->url;
    my $http = $o{http} // '';
    $t->write_conf(<<"EOF");
$http
capture_destination ph {
    type posthog;
    url $url;
    $params
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture ph; }
}
EOF
    $t->start;
    return ($t, $s);
}

# one request of $n events; returns their uuids
sub send_events {
    my ($t, $n, $name) = @_;
    my @evs = map { { uuid => uuid(), event => "life $_", distinct_id => 'u1' } } 1 .. $n;
    my $r = $t->request(method => 'POST', path => '/ingest/batch/',
        body => encode_json({ api_key => 'phc_life', batch => \@evs }),
        headers => { 'Content-Type' => 'application/json' });
    is($r->{status}, 200, "$name: $n events accepted") or diag explain $r;
    return map { $_->{uuid} } @evs;
}

sub alive {
    my ($pid) = @_;
    waitpid $pid, WNOHANG;
    return 0 unless kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

# seconds until $pid is gone, undef if not within $secs
sub gone_within {
    my ($pid, $secs) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        return time - $t0 unless alive($pid);
        sleep 0.02;
    }
    return alive($pid) ? undef : time - $t0;
}

# the worker processes of master $pid: [[pid, title], ...]
sub workers {
    my ($master) = @_;
    my @w;
    open my $ps, '-|', 'ps', '-o', 'pid=,args=', '--ppid', $master or die "ps: $!";
    while (<$ps>) {
        push @w, [$1, $2] if /^\s*(\d+)\s+(.*?)\s*$/;
    }
    close $ps;
    return @w;
}

sub shutting_down {
    my ($master) = @_;
    return grep { $_->[1] =~ /nginx: worker process is shutting down/ } workers($master);
}

sub sorted_uuids {
    my ($s) = @_;
    return [ sort map { $_->{uuid} } @{$s->events} ];
}

sub log_lines {
    my ($t, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $t->error_log;
}


# --- quit right after accepting: everything sent before nginx exits ---
{
    my ($t, $s) = setup('flush_interval 30s;');
    my @u = map { send_events($t, $_, "quit: request $_") } 1 .. 3;
    my $pid = $t->pid;
    my $t0 = time;
    kill 'QUIT', $pid;
    my $took = gone_within($pid, 8);
    my $t_gone = time;
    ok(defined $took, sprintf('quit: nginx exited (%.2f s)', $took // -1));
    cmp_ok($took // 99, '<', 3, 'quit: without waiting for flush_interval (30 s)');

    # read at once: whatever arrived, arrived before nginx was gone
    my $reqs = $s->requests;
    is_deeply(sorted_uuids($s), [sort @u], 'quit: the stand-in has all six events, once each');
    ok(!(grep { !defined $_->{status} || $_->{status} != 200 } @$reqs),
       'quit: every request was answered 200');
    ok(!(grep { $_->{t_ms} > $t_gone * 1000 || $_->{t_ms} < $t0 * 1000 - 5 } @$reqs),
       'quit: sent after the QUIT and before nginx was gone');
    is(scalar log_lines($t, qr/\[info\].*capture: exiting, sending what is queued within 10000 ms/), 1,
       'quit: the worker said it sends what is queued');
    $t->done;
}


# --- reload while transfers are in flight: all delivered, old worker exits ---
{
    my ($t, $s) = setup('flush_interval 50ms;');
    $s->mode('slow', delay_ms => 1000);
    my $master = $t->pid;
    my @before = workers($master);
    is(scalar @before, 1, 'reload: one worker');

    my @u = map { send_events($t, 2, "reload: request $_ before") } 1 .. 3;
    $s->wait_requests(1, 3);
    my $t0 = time;
    $t->signal('HUP', 0.4);

    my @old = shutting_down($master);
    is(scalar @old, 1, 'reload: the old worker is shutting down, its transfers in flight');
    is($old[0] && $old[0][0], $before[0][0], 'reload: it is the worker from before');

    push @u, map { send_events($t, 2, "reload: request $_ after") } 1 .. 2;

    my $left;
    my $deadline = $t0 + 3;
    while (time < $deadline) {
        last unless ($left = () = shutting_down($master));
        sleep 0.05;
    }
    my $took = time - $t0;
    is(scalar shutting_down($master), 0,
       sprintf('reload: no "worker process is shutting down" left %.2f s after HUP', $took));
    ok(!alive($before[0][0]), 'reload: the old worker is gone');

    $s->wait_events(10, 5);
    sleep 0.3;
    is_deeply(sorted_uuids($s), [sort @u], 'reload: all ten events delivered, once each');
    my $reqs = $s->requests;
    ok(!(grep { ($_->{status} // 0) != 200 || $_->{client_closed} } @$reqs),
       'reload: every transfer answered 200, none cut off');
    is(scalar log_lines($t, qr/\[info\].*capture: exiting, sending what is queued/), 1,
       'reload: the old worker drained');
    $s->mode('ok');
    $t->done;
}


# --- destination down, quit: capture_drain_timeout 2s bounds the wait ---
{
    my ($t, $s) = setup("flush_interval 30s;\n    retry_delay 100ms;\n    retry_max_delay 200ms;",
                        http => 'capture_drain_timeout 2s;');
    $s->refuse;
    my @u = send_events($t, 3, 'drain');
    my $pid = $t->pid;
    kill 'QUIT', $pid;
    my $took = gone_within($pid, 8);
    ok(defined $took, sprintf('drain: nginx exited (%.2f s)', $took // -1));
    cmp_ok($took // 99, '>=', 1.9, 'drain: it kept trying for capture_drain_timeout');
    cmp_ok($took // 99, '<=', 3, 'drain: and exited within about 3 s');

    my @alert = log_lines($t, qr/\[alert\]/);
    my @expired = grep { /capture: capture_drain_timeout \(2000 ms\) expired/ } @alert;
    my @lost = grep { /capture destination "ph": (\d+) events held in memory were not delivered and are lost/ } @alert;
    is(scalar @expired, 1, 'drain: an [alert] that capture_drain_timeout expired')
        or diag join "\n", @alert;
    is(scalar @lost, 1, 'drain: an [alert] with the events lost');
    like($lost[0] // '', qr/"ph": 3 events held in memory were not delivered/, 'drain: 3 events lost');
    cmp_ok(scalar(log_lines($t, qr/\[warn\].*capture destination "ph".*failed/)), '>=', 2,
           'drain: it retried while draining');
    is(scalar @{$s->requests}, 0, 'drain: nothing arrived');
    $t->done(allow => [qr/capture_drain_timeout \(2000 ms\) expired/,
                       qr/capture destination "ph": 3 events held in memory were not delivered/]);
}


# --- TERM (fast stop) with events held: an [alert] with the count ---
{
    my ($t, $s) = setup("batch_size 4;\n    flush_interval 30s;");
    $s->mode('hang');
    my @in_flight = send_events($t, 4, 'term: in flight');
    $s->wait_requests(1, 3);
    my @pending = send_events($t, 2, 'term: waiting');
    my $pid = $t->pid;
    kill 'TERM', $pid;
    my $took = gone_within($pid, 5);
    ok(defined $took, sprintf('term: nginx exited (%.2f s)', $took // -1));
    cmp_ok($took // 99, '<', 1.5, 'term: at once, not waiting for the hung transfer');
    my @lost = log_lines($t, qr/\[alert\].*capture destination "ph": \d+ events held in memory were not delivered and are lost/);
    is(scalar @lost, 1, 'term: one [alert] about lost events') or diag $t->error_log;
    like($lost[0] // '', qr/"ph": 6 events held/, 'term: it counts the 4 in flight and the 2 waiting');
    is_deeply($s->events, [], 'term: nothing was delivered');
    $s->mode('ok');
    $t->done(allow => qr/capture destination "ph": 6 events held in memory were not delivered/);
}

done_testing;
