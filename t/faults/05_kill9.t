#!/usr/bin/perl
# Fault 5: kill -9 of a worker during the load (once; FAULTS_LONG: three
# times), with the spool and sync=always: no event answered 200 is lost.
# A crash makes some duplicates unavoidable: the batches in flight when
# the worker died (delivered, not yet recorded as delivered) are sent
# again, and so are the requests whose answer the crash cut (the client
# retries what was already on disk).  They are bounded here by
#   kills x (max_in_flight x batch_size + clients x events per request)
# plus 1% of the accepted events, and reported.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();
my $label = '5 kill -9 spool';
Faults::need_spool($label);

my $kills = L(1, 3);
my $duration = L(4, 30);
my $events = L(2000, 20000);
my ($in_flight, $batch, $clients, $per) = (4, 50, 4, 10);

my $run = Faults::Run->new(name => $label, scenario => 5,
    spool => 'max_size=64m sync=always', workers => 2,
    dests => { ph => "batch_size $batch;\n    max_in_flight $in_flight;" })->start;
my $s = $run->standin('ph');
# transfers under way when the worker dies
$s->mode('slow', delay_ms => 200);

my $load = $run->load(events => $events, per_request => $per, clients => $clients,
                      duration => $duration);
my @killed;
for my $k (1 .. $kills) {
    sleep $duration / ($kills + 1);
    my @w = grep { $_->[1] !~ /shutting down/ } $run->workers;
    my $victim = $w[int rand @w] or next;
    kill 'KILL', $victim->[0];
    push @killed, $victim->[0];
    note("$label: killed worker $victim->[0] at " . sprintf('%.1f s', time - $load->t0));
}
is(scalar @killed, $kills, "$label: $kills worker(s) killed");
ok($load->wait(L(60, 300)), "$label: the load ended");
$s->mode('ok');
ok(!(grep { Faults::alive($_) } @killed), "$label: the killed workers are gone");
is(scalar $run->workers, 2, "$label: the master started new workers");

my $took = $run->deliveries(timeout => L(30, 120), settle => 2);
ok(defined $took, sprintf("$label: all delivered %.1f s after the load ended", $took // -1));

my $acc = scalar keys %{$run->accepted};
my $allow = $kills * ($in_flight * $batch + $clients * $per) + int($acc / 100);
my $r = $run->check(dup_allow => $allow, tail => $took);
note("$label: $r->{ph}{duplicates} duplicates after $kills kill(s), at most $allow allowed");

$run->done(allow => qr/worker process \d+ exited on signal 9/);
done_testing;
