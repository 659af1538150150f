#!/usr/bin/perl
# Fault 2: the destination answers 500 for a while (2 s; FAULTS_LONG:
# 30 s), then 429 with Retry-After (2 s of it, Retry-After: 1;
# FAULTS_LONG: 15 s, Retry-After: 5), then 200, while the load runs:
# every event answered 200 is delivered, once, and no retry comes
# sooner than Retry-After.  In memory and with the spool.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();

my $t500 = L(2, 30);
my $t429 = L(2, 15);
my $retry_after = L(1, 5);
my $events = L(2000, 20000);

for my $cfg (Faults::configs()) {
    my ($cname, $spool) = @$cfg;
    my $label = "2 500+429 $cname";
    subtest $label => sub {
        Faults::need_spool($label) if defined $spool;

        my $run = Faults::Run->new(name => $label, scenario => 2, spool => $spool)->start;
        my $s = $run->standin('ph');
        $s->mode('status', code => 500, body => '{"error":"faults: 500"}');

        my $load = $run->load(events => $events, per_request => 10,
                              duration => ($t500 + $t429) * 1.2);
        sleep $t500;
        my $t_429 = time;
        $s->mode('status', code => 429, retry_after => $retry_after);
        sleep $t429;
        my $t_ok = time;
        $s->mode('ok');

        ok($load->wait(L(60, 300)), "$label: the load ended");
        my $took = $run->deliveries(timeout => L(30, 120));
        ok(defined $took, sprintf("$label: all delivered %.1f s after the load ended", $took // -1));

        # read with the sink: StandIn's requests() parses every body
        my $sink = $run->sink('ph');
        $sink->poll;
        my $reqs = $sink->reqs;
        my %by;
        $by{$_->{status} // 'none'}++ for @$reqs;
        note("$label: the destination answered " . join ', ', map { "$_: $by{$_}" } sort keys %by);
        cmp_ok($by{500} // 0, '>', 0, "$label: it answered 500");
        cmp_ok($by{429} // 0, '>', 0, "$label: then 429");

        # a batch answered 429 is not tried again before Retry-After: the
        # next request with its first uuid comes at least that much later
        my %last429;
        my @early;
        for my $r (@$reqs) {
            my $u = $sink->first_uuid($r) // next;
            if (my $t = $last429{$u}) {
                push @early, sprintf('%.3f s', ($r->{t_ms} - $t) / 1000)
                    if $r->{t_ms} - $t < $retry_after * 1000 - 50;
                delete $last429{$u};
            }
            $last429{$u} = $r->{t_answer_ms} // $r->{t_ms} if ($r->{status} // 0) == 429;
        }
        ok(!@early, "$label: no batch retried sooner than Retry-After ($retry_after s) after a 429")
            or diag "retried after: @early";

        $run->check(tail => $took);
        $run->done;
    };
}

done_testing;
