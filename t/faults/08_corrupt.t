#!/usr/bin/perl
# Fault 8: damaged spool files.  Events wait in the spool (destination
# down, sync=always, small segments); nginx is stopped; the newest
# segment is cut in the middle of its last record (a torn tail) and 4
# bytes of a record's payload in the oldest segment are inverted (a
# checksum failure).  nginx started again with the destination back:
# recovery skips the two damaged records and counts them in the status
# (something like spool.torn_tails, spool.checksum_failures), and every
# other event is delivered, once; none of the damaged ones is.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use Time::HiRes qw(sleep time);

Faults::plan_or_skip();
my $label = '8 damaged spool';
Faults::need_spool($label);

my $events = L(2000, 20000);

my $run = Faults::Run->new(name => $label, scenario => 8, workers => 1,
    spool => 'max_size=64m segment_size=256k sync=always', drain_timeout => '1s')->start;
my $s = $run->standin('ph');
$s->refuse;

my $load = $run->load(events => $events, per_request => 10, pad => 200, duration => 1);
ok($load->wait(L(30, 120)), "$label: the load ended");
is(scalar keys %{$run->accepted}, $events, "$label: all $events accepted");
$run->quit;

# the damage, while nginx is stopped
my $dir = $run->dir . '/spool';
my @segs = map { Faults::Spool::read_segment($_) } Faults::Spool::segments($dir);
note(sprintf '%s: %s, %d bytes, %d records, ends: %s', $label, $_->{path} =~ s{.*/}{}r,
     $_->{size}, scalar @{$_->{records}}, $_->{stop}) for @segs;
my @usable = grep { @{$_->{records}} >= 3 } @segs;
cmp_ok(scalar @usable, '>=', 2, "$label: at least two segments of three records or more");
my $with_uuids = grep { @{$_->{uuids}} } map { @{$_->{records}} } @segs;
ok($with_uuids, "$label: the records' payloads show the events' uuids")
    or diag 'the damaged events cannot be told apart: the payload is not plain JSON';

my %damaged;
if (@usable >= 2) {
    my ($oldest, $newest) = @usable[0, -1];
    my $last = $#{$newest->{records}};
    my @cut = Faults::Spool::truncate_record($newest, $last);
    my @flipped = Faults::Spool::flip_record($oldest, int(@{$oldest->{records}} / 2));
    $damaged{$_} = 1 for @cut, @flipped;
    note("$label: cut record $last of $newest->{path} (" . scalar(@cut) . ' events), '
        . "flipped bytes in one of $oldest->{path} (" . scalar(@flipped) . ' events)');
}

$s->accept;
$run->start;

my $acc = $run->accepted;
delete @{$acc}{keys %damaged};
my $took = $run->deliveries(timeout => L(30, 120), accepted => $acc);
ok(defined $took, sprintf("$label: every undamaged event delivered within %.1f s", $took // -1));

my $c = $run->sink('ph')->counts;
my @back = grep { $c->{$_} } keys %damaged;
is(scalar @back, 0, "$label: none of the " . scalar(keys %damaged) . ' damaged events was delivered');

my $st = $run->status;
my @crc = Faults::find_keys($st, qr/checksum|crc|corrupt/i);
my @torn = Faults::find_keys($st, qr/torn|truncat/i);
note("$label: status counters: " . join ', ', map { "$_->[0]=$_->[1]" } @crc, @torn);
my $sum = sub { my $n = 0; $n += $_->[1] // 0 for @_; $n };
cmp_ok($sum->(@crc), '>=', 1, "$label: the status counts the checksum failure ("
    . join(', ', map { $_->[0] } @crc) . ')');
cmp_ok($sum->(@torn), '>=', 1, "$label: the status counts the torn tail ("
    . join(', ', map { $_->[0] } @torn) . ')');

$run->check(exclude => \%damaged, tail => $took);
$run->done(allow => [qr/spool|checksum|torn|truncat|crc|corrupt/i,
                     qr/capture_drain_timeout \(\d+ ms\) expired/, qr/not delivered and are lost/]);
done_testing;
