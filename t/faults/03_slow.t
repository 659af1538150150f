#!/usr/bin/perl
# Fault 3: a slow destination (each request answered after 2 s;
# FAULTS_LONG: 5 s) with a low in-flight limit (max_in_flight 1 per
# worker) and a small queue, so that the queue fills, clients get 503
# and retry: every event answered 200 is delivered, once, and no more
# than max_in_flight requests are under way per worker.  In memory and
# with the spool.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();

my $delay = L(2, 5);
my $events = L(1500, 10000);
my $batch = 250;
my $workers = 2;

for my $cfg (Faults::configs()) {
    my ($cname, $spool) = @$cfg;
    my $label = "3 slow $cname";
    subtest $label => sub {
        Faults::need_spool($label) if defined $spool;

        my $run = Faults::Run->new(name => $label, scenario => 3, spool => $spool,
            workers => $workers,
            dests => { ph => "batch_size $batch;\n    max_in_flight 1;\n    queue_size 750;" })->start;
        my $s = $run->standin('ph');
        $s->mode('slow', delay_ms => $delay * 1000);

        # about 4 times what the destination takes
        my $rate = $workers * $batch / $delay;
        my $load = $run->load(events => $events, per_request => 10,
                              duration => $events / $rate / 4, retry_for => 600);
        ok($load->wait($events / $rate * 3 + 60), "$label: the load ended");
        my $took = $run->deliveries(timeout => $events / $rate + 30);
        ok(defined $took, sprintf("$label: all delivered %.1f s after the load ended", $took // -1));
        $s->mode('ok');

        # requests under way at once, over the whole run
        my @edges;
        my $sink = $run->sink('ph');
        $sink->poll;
        for my $r (@{$sink->reqs}) {
            next unless defined $r->{t_answer_ms};
            push @edges, [$r->{t_ms}, 1], [$r->{t_answer_ms}, -1];
        }
        my ($now, $max) = (0, 0);
        for my $e (sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @edges) {
            $now += $e->[1];
            $max = $now if $now > $max;
        }
        cmp_ok($max, '<=', $workers, "$label: at most max_in_flight x workers requests at once ($max)");
        my $cs = $run->client_stats;
        note("$label: clients saw 503 " . ($cs->{503} // 0) . ' times');

        $run->check(tail => $took);
        $run->done;
    };
}

done_testing;
