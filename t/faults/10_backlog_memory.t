#!/usr/bin/perl
# A backlog of 1,000,000 events on disk (FAULTS_LONG=1 only, or
# FAULTS_BACKLOG=N for another size): the destination down, the events
# loaded fast (500 a request, 4 clients) into the spool; the resident
# memory (VmRSS) of every worker stays under 200 MB while the backlog
# builds, waits, and drains once the destination is back; then every
# event answered 200 is delivered.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();
my $events = $ENV{FAULTS_BACKLOG} // (Faults::long() ? 1_000_000 : 0);
my $label = '10 backlog ' . ($events >= 1_000_000 ? ($events / 1_000_000) . 'M' : $events);
plan skip_all => 'the 1,000,000-event backlog runs in the long form only '
    . '(make faults, FAULTS_LONG=1; FAULTS_BACKLOG=N for another size)' unless $events;
Faults::need_spool($label);

my $limit_mb = $ENV{FAULTS_RSS_LIMIT_MB} // 200;
my $idle = 10;

my $run = Faults::Run->new(name => $label, scenario => 10, workers => 2,
    spool => 'max_size=4096m sync=1s',
    dests => { ph => "batch_size 500;\n    max_in_flight 8;\n    retry_max_delay 2s;" })->start;
my $s = $run->standin('ph');
$s->refuse;
my $rss = Faults::Rss->start($run->master, $run->dir . '/rss.txt', 0.5);
sleep 1;
my $base = $rss->max;
note("$label: VmRSS of the workers at the start: " . join(', ', map { "$_: $base->{$_} kB" } sort keys %$base));

my $load = $run->load(events => $events, per_request => 500, clients => 4,
                      retry_for => 600, timeout => 60);
ok($load->wait(3600), "$label: the load ended");
my $loaded = time - $load->t0;
my $n = scalar keys %{$run->accepted};
is($n, $events, sprintf("$label: all %d events accepted in %.0f s", $events, $loaded));

sleep $idle;
my $du = `du -sk $run->{t}{dir}/spool 2>/dev/null` =~ /^(\d+)/ ? $1 : 0;
note(sprintf "$label: the spool holds %.0f MB on disk", $du / 1024);
cmp_ok($du * 1024, '>', $events * 50, "$label: the backlog is on disk (" . int($du / 1024) . ' MB)');

my $during = $rss->max;
my $t_back = $rss->elapsed;
$s->accept;
my $took = $run->deliveries(timeout => 3600, settle => 2);
ok(defined $took, sprintf("$label: the backlog delivered in %.0f s", $took // -1));
my $all = $rss->max;
my $drain = $rss->max(2, $t_back);
my $anon = $rss->max(3);
$rss->stop;

for my $pid (sort keys %$all) {
    my $mb = $all->{$pid} / 1024;
    note(sprintf "$label: worker %d: VmRSS at most %.1f MB while loading and waiting, %.1f MB "
        . "while draining; RssAnon at most %.1f MB", $pid, ($during->{$pid} // 0) / 1024,
        ($drain->{$pid} // 0) / 1024, ($anon->{$pid} // 0) / 1024);
    cmp_ok($mb, '<', $limit_mb, sprintf("$label: worker $pid stays under $limit_mb MB (%.1f MB)", $mb));
}

$run->check(time => $loaded + $idle + ($took // 0), tail => $took);
$run->done;
done_testing;
