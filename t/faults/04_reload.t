#!/usr/bin/perl
# Fault 4: nginx -s reload (HUP to the master) 5 times (FAULTS_LONG: 20)
# during the load; two workers, the destination answering in 300 ms so
# that transfers are under way at every reload: the workers of each
# older configuration drain and exit, and every event answered 200 is
# delivered, once.  In memory (the drain on exit) and with the spool.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();

my $reloads = L(5, 20);
my $duration = L(5, 40);
my $events = L(2000, 20000);

for my $cfg (Faults::configs()) {
    my ($cname, $spool) = @$cfg;
    my $label = "4 reload x$reloads $cname";
    subtest $label => sub {
        Faults::need_spool($label) if defined $spool;

        my $run = Faults::Run->new(name => $label, scenario => 4, spool => $spool)->start;
        my $s = $run->standin('ph');
        $s->mode('slow', delay_ms => 300);
        my %seen = map { $_->[0] => 1 } $run->workers;

        my $load = $run->load(events => $events, per_request => 10, duration => $duration);
        my $gap = $duration / ($reloads + 1);
        for my $i (1 .. $reloads) {
            sleep $gap;
            kill 'HUP', $run->master or die "HUP: $!";
        }
        ok($load->wait(L(60, 300)), "$label: the load ended");
        sleep 0.5;
        $seen{$_->[0]} = 1 for $run->workers;
        ok($run->wait_drained(15), "$label: no worker left shutting down");

        my $took = $run->deliveries(timeout => L(30, 120));
        ok(defined $took, sprintf("$label: all delivered %.1f s after the load ended", $took // -1));

        my @reloaded = grep { /: reconfiguring$/ } split /\n/, $run->t->error_log;
        is(scalar @reloaded, $reloads, "$label: the master reloaded $reloads times");
        my @expired = grep { /capture_drain_timeout .*expired/ } split /\n/, $run->t->error_log;
        is(scalar @expired, 0, "$label: no drain ran out of time");
        my $cs = $run->client_stats;
        note("$label: client attempts without an answer: " . ($cs->{conn} // 0));

        $run->check(tail => $took);
        $run->done;
    };
}

done_testing;
