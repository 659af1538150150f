#!/usr/bin/perl
# Fault 9: two destinations, one of them down (connection refused) for a
# while (2 s; FAULTS_LONG: 30 s): the healthy one keeps delivering all
# along, the other catches up once back; every event answered 200
# reaches both, once.  In memory and with the spool.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();

my $outage = L(2, 30);
my $events = L(2000, 20000);

for my $cfg (Faults::configs()) {
    my ($cname, $spool) = @$cfg;
    my $label = "9 two dests $cname";
    subtest $label => sub {
        Faults::need_spool($label) if defined $spool;

        my $run = Faults::Run->new(name => $label, scenario => 9, spool => $spool,
            dests => { up => '', down => '' })->start;
        my $down = $run->standin('down');
        $down->refuse;

        my $load = $run->load(events => $events, per_request => 10,
                              duration => $outage * 1.5);
        sleep $outage;

        # what was accepted more than a second ago has reached "up"
        my $before = $load->accepted(time - $load->t0 - 1);
        my $up = $run->sink('up');
        $up->poll;
        my $c = $up->counts;
        my $missing = grep { !$c->{$_} } keys %$before;
        cmp_ok(scalar keys %$before, '>', 0, "$label: events accepted during the outage");
        is($missing, 0, "$label: the healthy destination had all of the "
            . scalar(keys %$before) . ' accepted more than 1 s before the end of the outage');
        is(scalar @{$down->requests}, 0, "$label: nothing reached the one that was down");
        $down->accept;

        ok($load->wait(L(60, 300)), "$label: the load ended");
        my $took = $run->deliveries(timeout => L(30, 120));
        ok(defined $took, sprintf("$label: all delivered to both %.1f s after the load ended", $took // -1));
        $run->check(tail => $took);
        $run->done;
    };
}

done_testing;
