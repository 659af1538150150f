#!/usr/bin/perl
# Fault 7: the spool at its max_size (a small one: 1m; FAULTS_LONG: 4m)
# while the destination is down (2 s; FAULTS_LONG: 30 s): clients get 503
# (and retry, as the SDKs do), nothing answered 200 is lost, and once
# the destination is back every client gets its events in.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();
my $label = '7 spool full';
Faults::need_spool($label);

my $outage = L(2, 30);
my $events = L(2000, 20000);
my $max = L('1m', '4m');
my $pad = 1000;             # ~1.1 KB an event: $events of them do not fit

my $run = Faults::Run->new(name => $label, scenario => 7,
    spool => "max_size=$max segment_size=256k sync=100ms overflow=reject")->start;
my $s = $run->standin('ph');
$s->refuse;

my $load = $run->load(events => $events, per_request => 10, pad => $pad,
                      duration => $outage / 2, max_backoff => 1, retry_for => $outage + 120);
sleep $outage;
my $cs = $load->stats;
cmp_ok($cs->{503} // 0, '>', 0, "$label: clients got 503 while the spool was full ("
    . ($cs->{503} // 0) . ' times)');
my $held = scalar keys %{$load->accepted};
cmp_ok($held, '<', $events, "$label: not everything fit ($held of $events accepted while down)");
# what the spool holds on disk, all files of its directory
my $bytes = 0;
$bytes += -s $_ // 0 for glob($run->dir . '/spool/*');
my $max_bytes = $max =~ /^(\d+)m$/ ? $1 * 1024 * 1024 : die "max_size $max";
note(sprintf "$label: the spool's directory holds %d bytes, max_size is %d (%+.1f%%)",
     $bytes, $max_bytes, ($bytes / $max_bytes - 1) * 100);
# the workers share one count of what they append: past max_size by at
# most a record per worker (~12 KB each) and the cursor files
cmp_ok($bytes, '<=', $max_bytes + 64 * 1024,
       "$label: the spool stays within max_size, give or take a record per worker ($bytes bytes)");
my $st = $run->status;
note("$label: the spool at the end of the outage: "
    . JSON::PP->new->canonical->encode($st ? $st->{spool} // {} : {}));
$s->accept;

ok($load->wait($outage + 180), "$label: the load ended");
my $took = $run->deliveries(timeout => L(30, 120));
ok(defined $took, sprintf("$label: all delivered %.1f s after the load ended", $took // -1));
$run->check(tail => $took);

# nothing of a request answered 503 was kept: its events came once, by
# the retry that was answered 200 (checked by the duplicates above)
$run->done;
done_testing;
