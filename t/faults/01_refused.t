#!/usr/bin/perl
# Fault 1: the destination is down (connection refused) for a while
# (2 s; FAULTS_LONG: 30 s) while the load runs, then back: every event
# answered 200 is delivered, once.  In memory and with the spool.

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
    my $label = "1 refused $cname";
    subtest $label => sub {
        Faults::need_spool($label) if defined $spool;

        my $run = Faults::Run->new(name => $label, scenario => 1, spool => $spool)->start;
        my $s = $run->standin('ph');
        $s->refuse;

        my $load = $run->load(events => $events, per_request => 10,
                              duration => $outage * 1.5);
        sleep $outage;
        is(scalar @{$s->requests}, 0, "$label: nothing reached the destination while it was down");
        my $during = scalar keys %{$load->accepted};
        cmp_ok($during, '>', 0, "$label: events accepted while it was down ($during)");
        $s->accept;

        ok($load->wait(L(60, 300)), "$label: the load ended");
        my $took = $run->deliveries(timeout => L(30, 120));
        ok(defined $took, sprintf("$label: all delivered %.1f s after the load ended", $took // -1));
        $run->check(tail => $took);
        $run->done;
    };
}

done_testing;
