#!/usr/bin/perl
# Fault 6: nginx -s quit (QUIT to the master) while the destination is
# down and events wait in the spool (after two reloads, also while it
# is down), then nginx started again while it is still down, more
# events accepted, and the destination back (after 2 s; FAULTS_LONG:
# 30 s): the backlog of both runs is delivered, once.
# capture_drain_timeout 1s: exits do not wait long for the destination.
# Then nginx with 8 workers started five times: every worker runs.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();
my $label = '6 quit+restart spool';
Faults::need_spool($label);

my $outage = L(2, 30);
my $half = L(1000, 10000);

my $run = Faults::Run->new(name => $label, scenario => 6,
    spool => 'max_size=64m sync=100ms', drain_timeout => '1s')->start;
my $s = $run->standin('ph');
$s->refuse;

my $first = $run->load(events => $half, per_request => 10, duration => 1.5);
# and reloads while it is down: the old workers leave their logs
for (1 .. 2) {
    sleep 0.5;
    kill 'HUP', $run->master or die "HUP: $!";
}
ok($first->wait(L(30, 120)), "$label: the first load ended");
ok($run->wait_drained(5), "$label: the workers of before the reloads exited");
my $n1 = scalar keys %{$first->accepted};
is($n1, $half, "$label: all $half events of the first run accepted");

my $quit = $run->quit;
cmp_ok($quit, '<', 5, sprintf("$label: nginx quit within %.1f s", $quit));
my @segs = Faults::Spool::segments($run->dir . '/spool');
cmp_ok(scalar @segs, '>', 0, "$label: the spool holds segment files while nginx is stopped ("
    . scalar(@segs) . ')');

$run->start;
my $second = $run->load(events => $half, per_request => 10, duration => 1.5);
ok($second->wait(L(30, 120)), "$label: the second load ended");
sleep $outage;
is(scalar @{$s->requests}, 0, "$label: nothing reached the destination while it was down");
$s->accept;

my $took = $run->deliveries(timeout => L(30, 120));
ok(defined $took, sprintf("$label: the backlog of both runs delivered within %.1f s", $took // -1));
$run->check(tail => $took);

# the events are in the spool, not lost: no [alert] may say they are
my @lost = grep { /\[alert\].*(lost|not delivered)/ } split /\n/, $run->t->error_log;
ok(!@lost, "$label: no [alert] says events were lost") or diag join "\n", @lost;

$run->done(allow => [qr/capture_drain_timeout \(\d+ ms\) expired/, qr/lost|not delivered/]);

# many workers starting at once, five times: each takes its own log,
# although every one of them looks for orphan logs as it starts
{
    my $label = '6 start x8 workers';
    my $r = Faults::Run->new(name => $label, scenario => 6, workers => 8,
                             spool => 'max_size=64m sync=100ms');
    my @running;
    for (1 .. 5) {
        $r->start;
        sleep 0.5;
        push @running, scalar grep { $_->[1] !~ /shutting down/ } $r->workers;
        $r->quit;
    }
    is("@running", '8 8 8 8 8', "$label: 8 workers running after each start (@running)");
    $r->done;
}

done_testing;
