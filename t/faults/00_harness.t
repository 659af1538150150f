#!/usr/bin/perl
# The fault suite's own instruments, checked before they are trusted:
# the spool-file reader and its damage (on a segment written here by the
# format's description: CRC32C, record headers, torn tails), and the
# tally, which must see a loss where there is one: nginx stopped fast
# (TERM) with events held in memory loses exactly the events its
# [alert] counts, and the tally finds that many lost.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/../lib";
use Faults;

use File::Temp ();
use Time::HiRes qw(sleep time);

# --- the spool-file tools, on a segment made here ---
{
    is(sprintf('%08x', Faults::Spool::crc32c('123456789')), 'e3069283',
       'crc32c: the check value of CRC-32C');

    my $dir = File::Temp::tempdir('faults-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $path = "$dir/1234-1700000000000-0000000000000001.seg";
    my @uuids = map { sprintf '0193a5d2-7b4e-7c1a-8f3e-%012x', $_ } 1 .. 5;
    my $data = 'CSeg' . ("\0" x 28);
    for my $u (@uuids) {
        my $p = qq({"uuid":"$u","event":"e","distinct_id":"d","properties":{"x":"yyyyyyyy"}});
        my $h = pack 'a4 V V', 'CRec', length $p, Faults::Spool::crc32c($p);
        $data .= $h . pack('V', Faults::Spool::crc32c($h)) . $p;
    }
    open my $fh, '>', $path or die $!;
    binmode $fh;
    print {$fh} $data, "\0" x 100;   # room made in advance
    close $fh;

    is_deeply([Faults::Spool::segments($dir)], [$path], 'spool: the segment is found');
    my $seg = Faults::Spool::read_segment($path);
    is(scalar @{$seg->{records}}, 5, 'spool: five records read');
    is($seg->{stop}, 'eof', 'spool: the zeros after them are the end');
    is_deeply([map { @{$_->{uuids}} } @{$seg->{records}}], \@uuids, 'spool: their uuids');
    ok(!(grep { !$_->{payload_ok} } @{$seg->{records}}), 'spool: every payload checksum holds');

    is_deeply([Faults::Spool::flip_record($seg, 1)], [$uuids[1]], 'flip: the uuids of the record damaged');
    is_deeply([Faults::Spool::truncate_record($seg, 4)], [$uuids[4]], 'truncate: the uuids of the record cut');
    $seg = Faults::Spool::read_segment($path);
    is(scalar @{$seg->{records}}, 4, 'spool: four whole records left');
    is($seg->{stop}, 'torn', 'spool: then a torn record');
    is_deeply([map { $_->{payload_ok} } @{$seg->{records}}], [1, 0, 1, 1],
              'spool: the payload checksum of the flipped record fails, only it');
}

# --- the sink, on a stand-in's record written here ---
{
    my $dir = File::Temp::tempdir('faults-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $rec = "$dir/standin.jsonl";
    mkdir "$rec.d";
    my $u = sub { sprintf '0193a5d2-0100-7%03x-8000-%012x', $_[0], $_[1] };
    my $ev = sub {
        my ($c, $n, %o) = @_;
        return { uuid => $u->($c, $n), event => 'fault_event', timestamp => '2026-12-04T10:00:00.000Z',
                 distinct_id => $o{did} // "faults-1-$c", properties => { seq => $n, client => $c, '$ip' => '127.0.0.1' } };
    };
    my @bodies = (
        [200, [$ev->(0, 0), $ev->(0, 1)]],
        [500, [$ev->(0, 2)]],                       # not delivered
        [200, [$ev->(0, 2), $ev->(0, 1)]],          # 1 again: a duplicate
        [undef, [$ev->(1, 0, did => 'someone')]],   # answered later, wrong id
    );
    open my $fh, '>', $rec or die $!;
    for my $i (0 .. $#bodies) {
        my ($st, $evs) = @{$bodies[$i]};
        open my $b, '>', "$rec.d/$i.raw" or die $!;
        print {$b} CaptureTest::encode_json({ api_key => 'phc_faults', batch => $evs });
        close $b;
        print {$fh} CaptureTest::encode_json({ type => 'request', seq => $i, t_ms => 1, body_file => 'raw',
            defined $st ? (status => $st) : () }), "\n";
    }
    print {$fh} CaptureTest::encode_json({ type => 'answer', seq => 3, status => 200, t_answer_ms => 2 }), "\n";
    close $fh;

    my $sink = Faults::Sink->new(bless({ record => $rec }, 'StandIn'), verify_every => 1);
    my $new = $sink->poll;
    is(scalar @$new, 5, 'sink: five deliveries (2xx answers only, a late answer included)');
    is_deeply($sink->counts, { $u->(0, 0) => 1, $u->(0, 1) => 2, $u->(0, 2) => 1, $u->(1, 0) => 1 },
              'sink: counted per uuid');
    is(scalar @{$sink->reqs}, 4, 'sink: four requests');
    is($sink->first_uuid($sink->reqs->[2]), $u->(0, 2), 'sink: the first uuid of a request');
    is(scalar @{$sink->problems}, 1, 'sink: the sampled bodies checked: one wrong event')
        or diag explain $sink->problems;
    like($sink->problems->[0] // '', qr/event 0193a5d2-0100-7001-8000-000000000000: distinct_id/,
         'sink: it names the event and what is wrong');
}

# --- the tally sees a loss: TERM with events held in memory ---
SKIP: {
    skip 'CAPTURE_MODULE is not set', 6 unless $ENV{CAPTURE_MODULE};
    skip 'node is not installed', 6 unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

    my $run = Faults::Run->new(name => '0 harness (TERM)', workers => 1,
        dests => { ph => "batch_size 10;\n    flush_interval 30s;" })->start;
    my $s = $run->standin('ph');
    $s->mode('hang');
    my $load = $run->load(events => 100, per_request => 10, clients => 2);
    ok($load->wait(20), 'harness: the load ended');
    is(scalar keys %{$run->accepted}, 100, 'harness: 100 events accepted');

    my $pid = $run->master;
    kill 'TERM', $pid;
    my $deadline = time + 5;
    sleep 0.05 while Faults::alive($pid) && time < $deadline;
    ok(!Faults::alive($pid), 'harness: nginx stopped at once');
    my ($alert) = grep { /events held in memory were not delivered/ } split /\n/, $run->t->error_log;
    my ($held) = ($alert // '') =~ /: (\d+) events held/;
    is($held, 100, 'harness: the [alert] counts 100 events lost');

    $s->mode('ok');
    $run->deliveries(timeout => 1, settle => 0.5);
    my $r = $run->tally('ph');
    Faults::report_line('0 harness (TERM, loss expected)', $r, $load->elapsed);
    is($r->{lost}, 100, 'harness: the tally finds the 100 lost');
    is($r->{delivered} + $r->{lost}, $r->{accepted}, 'harness: delivered + lost = accepted');
    $run->done(allow => qr/events held in memory were not delivered/);
}

done_testing;
