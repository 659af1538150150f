#!/usr/bin/perl

# capture_spool: accepted events are in the spool before the answer, and
# what a worker leaves undelivered (quit with the destination down, a
# kill -9) is adopted and delivered by the next one; a full spool answers
# 503; a torn tail and a flipped byte are skipped and counted, the rest
# delivered; a log delivered whole leaves no segment behind.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use JSON::PP ();
use StandIn;
use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $n = 0;

sub conf {
    my ($s, $spool, $dest) = @_;
    my $u = $s->url;
    $dest //= '';
    return <<"EOF";
capture_spool %%DIR%%/spool $spool;
capture_drain_timeout 1s;

capture_destination ph {
    type            posthog;
    url             $u;
    compression     off;
    flush_interval  50ms;
    retry_max_delay 500ms;
    $dest
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture ph; }
    location /status  { capture_status; }
}
EOF
}

# one request of "k" events with fresh uuids; returns [status, uuids]
sub send_events {
    my ($t, $k) = @_;
    my @uuids = map { sprintf '0193a5d2-7b4e-7c1a-9f3e-%012d', ++$n } 1 .. $k;
    my $r = $t->request(method => 'POST', path => '/ingest/batch/',
        headers => { 'Content-Type' => 'application/json' },
        body => encode_json({ api_key => 'phc_spool', batch => [
            map { { uuid => $_, event => 'spooled', distinct_id => 'u',
                    properties => { pad => 'x' x 100 } } } @uuids ] }));
    return [$r->{status}, \@uuids, $r];
}

# "n" requests of "k" events each; the uuids of those answered 200 (the
# status of any other is shown)
sub send_requests {
    my ($t, $n, $k) = @_;
    my @sent;
    for my $i (1 .. $n) {
        my $r = send_events($t, $k);
        if ($r->[0] == 200) {
            push @sent, @{$r->[1]};
        } else {
            diag("request $i: $r->[0]");
        }
    }
    return @sent;
}

sub status {
    my ($t) = @_;
    return JSON::PP->new->decode($t->request(path => '/status')->{body});
}

sub segments { my ($t) = @_; [glob($t->dir . '/spool/*.seg')] }

sub received {
    my ($s) = @_;
    my %seen;
    $seen{$_->{uuid}}++ for @{$s->events};
    return \%seen;
}

sub wait_for {
    my ($what, $secs) = @_;
    my $deadline = time + $secs;
    until ($what->()) {
        return 0 if time > $deadline;
        sleep 0.1;
    }
    return 1;
}


subtest 'delivered, and nothing left behind' => sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    $t->write_conf(conf($s, 'sync=always'));
    $t->start;

    my @sent;
    for (1 .. 5) {
        my $r = send_events($t, 3);
        is($r->[0], 200, "request $_: 200");
        push @sent, @{$r->[1]};
    }

    $s->wait_events(15, 10);
    my $got = received($s);
    is(scalar(grep { $got->{$_} } @sent), 15, 'every event delivered');
    is(scalar(grep { $got->{$_} > 1 } keys %$got), 0, 'once');

    my $st;
    ok(wait_for(sub { $st = status($t)->{spool}; $st->{bytes} > 0 }, 5),
       'bytes on disk, measured every 100 ms');
    is($st->{records}, 5, 'one record per request');
    is($st->{events}, 15, 'with its events');
    cmp_ok($st->{syncs}, '>=', 1, 'sync=always synced');
    ok(@{segments($t)} >= 1, 'the live segment is kept while it grows');

    $t->stop;
    is(scalar @{segments($t)}, 0, 'quit with all delivered: no segment left');
    $t->done;
};

subtest 'quit with the destination down; the next start delivers' => sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    $t->write_conf(conf($s, 'sync=100ms'));
    $t->start;

    my @sent;
    push @sent, @{send_events($t, 2)->[1]};
    $s->wait_events(2, 10);

    $s->refuse;
    for (1 .. 4) {
        my $r = send_events($t, 5);
        is($r->[0], 200, "while down, request $_: 200");
        push @sent, @{$r->[1]};
    }

    $t->stop;
    ok(@{segments($t)} >= 1, 'the undelivered stay in the spool');
    like($t->error_log, qr/undelivered events stay in the log/,
         'the worker says so');
    unlike($t->error_log, qr/are lost/, 'and loses nothing');

    $t->start;
    sleep 0.5;
    $s->accept;

    ok(wait_for(sub { my $g = received($s); !grep { !$g->{$_} } @sent }, 15),
       'every event accepted before the quit is delivered');
    my $got = received($s);
    is(scalar(grep { $got->{$_} > 1 } @sent), 0, 'none twice');

    like($t->error_log, qr/adopted the log/, 'the log was adopted');
    ok(wait_for(sub { $t->error_log =~ /the log "[^"]+" is delivered/ }, 5),
       'and released once delivered');
    is(status($t)->{spool}{replayed_events}, 20, 'twenty events replayed');

    $t->done;
};

subtest 'an adopted log: a destination still down holds up no other' => sub {
    my $t = CaptureTest->new;
    my $up = StandIn->new(dir => $t->dir);
    my $down = StandIn->new(dir => $t->dir);
    my ($u1, $u2) = ($up->url, $down->url);

    # queues of 8 events: the one still down fills its queue at once
    $t->write_conf(<<"EOF");
capture_spool %%DIR%%/spool sync=100ms;
capture_drain_timeout 1s;

capture_destination up {
    type posthog; url $u1; compression off; flush_interval 50ms;
    retry_max_delay 500ms; queue_size 8;
}
capture_destination down {
    type posthog; url $u2; compression off; flush_interval 50ms;
    retry_max_delay 500ms; queue_size 8;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture up down; }
    location /status  { capture_status; }
}
EOF
    $t->start;

    $up->refuse;
    $down->refuse;

    my @sent = send_requests($t, 10, 5);
    is(scalar @sent, 50, 'fifty events accepted with both down');

    $t->stop;
    $t->start;
    $up->accept;

    ok(wait_for(sub { my $g = received($up); !grep { !$g->{$_} } @sent }, 15),
       'the destination that is back gets every event of the adopted log')
        or diag(scalar(keys %{received($up)}) . ' of 50');
    like($t->error_log, qr/adopted the log/, 'the log was adopted');

    my $g = received($down);
    cmp_ok(scalar(grep { $g->{$_} } @sent), '<', 50,
           'while the other, still down, has not had them all');

    $down->accept;
    ok(wait_for(sub { my $g = received($down); !grep { !$g->{$_} } @sent },
                15), 'which it delivers once back');
    ok(wait_for(sub { $t->error_log =~ /the log "[^"]+" is delivered/ }, 5),
       'and the log is released');
    my $got = received($up);
    is(scalar(grep { $got->{$_} > 1 } @sent), 0, 'none twice');

    $t->done;
};

subtest 'kill -9 of a worker, sync=always: nothing answered 200 lost' => sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    $t->write_conf(conf($s, 'sync=always'));
    $t->start;

    $s->refuse;

    my @sent = send_requests($t, 5, 4);
    is(scalar @sent, 20, 'twenty events answered 200');

    my ($worker) = grep { $_ != $t->pid }
                   map { /^\s*(\d+)\s+(\d+)/ && $2 == $t->pid ? $1 : () }
                   `ps -eo pid,ppid`;
    ok($worker, 'the worker found');
    kill 'KILL', $worker;

    ok(wait_for(sub { $t->error_log =~ /adopted the log/ }, 10),
       'the new worker adopts the dead one\'s log');
    $s->accept;

    ok(wait_for(sub { my $g = received($s); !grep { !$g->{$_} } @sent }, 15),
       'every event delivered');

    $t->done(allow => qr/exited on signal 9/);
};

subtest 'a full queue: the events wait on disk, not in a 503' => sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    my $conf = conf($s, 'segment_size=4k');
    $conf =~ s/retry_max_delay 500ms;/retry_max_delay 500ms;\n    queue_size 10;/;
    $t->write_conf($conf);
    $t->start;

    $s->refuse;

    my @sent = send_requests($t, 40, 3);
    is(scalar @sent, 120, 'all 120 events answered 200, with a queue of 10');

    sleep 0.3;

    my $st = status($t);
    cmp_ok($st->{destinations}{ph}{queued_events}, '<=', 10,
           'the queue holds no more than its size');
    cmp_ok($st->{destinations}{ph}{oldest_undelivered_ms}, '>', 100,
           'the age of the oldest undelivered event is shown');
    my ($age) = $t->request(path => '/status?format=prometheus')->{body}
        =~ /^capture_destination_oldest_undelivered_seconds\{destination="ph"\} (\d+\.\d{3})$/m;
    ok(defined $age && $age > 0, 'in Prometheus too, in seconds');
    cmp_ok($st->{spool}{fell_behind}, '>=', 1, 'the destination fell behind');
    like($t->error_log, qr/queue full, its events wait in the spool/,
         'and says so');

    $s->accept;
    ok(wait_for(sub { my $g = received($s); !grep { !$g->{$_} } @sent }, 30),
       'every event delivered once the destination is back');
    my $got = received($s);
    is(scalar(grep { $got->{$_} > 1 } @sent), 0, 'none twice');
    ok(wait_for(sub { $t->error_log =~ /caught up with the spool/ }, 10),
       'and it caught up');
    ok(wait_for(sub {
           status($t)->{destinations}{ph}{oldest_undelivered_ms} == 0 }, 5),
       'nothing waits any more');

    # live again: new events go straight through
    my $r = send_events($t, 1);
    ok(wait_for(sub { received($s)->{$r->[1][0]} }, 10), 'live again');

    $t->done;
};

subtest 'a full spool answers 503, and loses nothing answered 200' => sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    $t->write_conf(conf($s, 'max_size=8k segment_size=4k'));
    $t->start;

    $s->refuse;

    my (@sent, $full);
    for (1 .. 40) {
        my $r = send_events($t, 2);
        if ($r->[0] == 200) {
            push @sent, @{$r->[1]};
            next;
        }
        $full = $r->[2];
        last;
    }

    ok($full, 'a request was refused') or return;
    is($full->{status}, 503, 'answered 503');
    is($full->{headers}{'retry-after'}, '1', 'with Retry-After');
    like($full->{body}, qr/the spool is full/, 'and the reason');
    cmp_ok(status($t)->{spool}{rejected_requests}, '>=', 1, 'counted');

    $s->accept;
    ok(wait_for(sub { my $g = received($s); !grep { !$g->{$_} } @sent }, 15),
       'what was answered 200 is delivered');

    # delivered: segments go, and the spool takes events again
    ok(wait_for(sub { send_events($t, 1)->[0] == 200 }, 10),
       'room again once delivered');

    $t->done;
};

subtest 'a disk that fills up: 503, nothing answered 200 lost, room again' =>
sub {
    my $t = CaptureTest->new;
    my $mnt = $t->dir . '/small';
    mkdir $mnt;

    # a file system of 256 KB for the spool alone (root only)
    unless ($> == 0
            && system("mount -t tmpfs -o size=256k tmpfs $mnt 2>/dev/null")
               == 0)
    {
        plan skip_all => 'a small tmpfs cannot be mounted here (needs root)';
    }

    my $ok = eval {
        my $s = StandIn->new(dir => $t->dir);
        my $conf = conf($s, 'max_size=64m segment_size=1m');
        $conf =~ s{%%DIR%%/spool}{$mnt/spool};
        $t->write_conf($conf);
        $t->start;

        $s->refuse;

        # a segment larger than the disk: it fills while writing records
        my (@sent, @refused);
        for (1 .. 200) {
            my $r = send_events($t, 5);
            if ($r->[0] == 200) {
                push @sent, @{$r->[1]};
                next;
            }
            push @refused, $r->[2];
            last if @refused == 5;
        }

        ok(@refused, 'requests were refused once the disk was full ('
            . scalar(@sent) . ' events accepted before)') or return 1;
        is(scalar(grep { $_->{status} == 503 } @refused), scalar @refused,
           'each with 503');
        ok(!grep({ !$_->{headers}{'retry-after'} } @refused),
           'and Retry-After');
        like($refused[0]{body}, qr/the spool could not be written/,
             'the write of the records failed: the reason');
        like($t->error_log, qr/capture spool: .*No space left on device/,
             'logged, with the system\'s reason');

        $s->accept;
        ok(wait_for(sub { my $g = received($s); !grep { !$g->{$_} } @sent },
                    15), 'every event answered 200 is delivered');

        ok(wait_for(sub { send_events($t, 1)->[0] == 200 }, 15),
           'room again once delivered')
            or diag(join "\n", (split /\n/, $t->error_log)[-15 .. -1],
                    `ls -la $mnt/spool`);

        $t->done;
        1;
    };

    my $e = $@;
    system("umount -l $mnt");
    die $e unless $ok;
};

subtest 'overflow=drop_oldest: the oldest go, counted, the client gets 200' =>
sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    $t->write_conf(conf($s, 'max_size=16k segment_size=4k '
                            . 'overflow=drop_oldest'));
    $t->start;

    $s->refuse;

    my @sent = send_requests($t, 60, 2);
    is(scalar @sent, 120, 'every request answered 200');

    my $st = status($t)->{spool};
    cmp_ok($st->{dropped_events}, '>', 0, 'events dropped, and counted');
    cmp_ok($st->{bytes}, '<=', 16 * 1024 + 4096, 'the spool kept its size');
    like($t->error_log, qr/full, its oldest segment \d+ with \d+ events dropped/,
         'each drop logged');

    $s->accept;
    my $dropped = $st->{dropped_events};
    ok(wait_for(sub { scalar(keys %{received($s)}) >= 120 - $dropped }, 15),
       'everything not dropped is delivered');
    my $got = received($s);
    ok(wait_for(sub { $got = received($s); $got->{$sent[-1]} }, 5),
       'the newest among them');

    $t->done;
};

subtest 'drop_oldest with a small queue: only the oldest on disk are lost' =>
sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);

    # the queue holds 4 events: the rest waits on disk only
    $t->write_conf(conf($s, 'max_size=16k segment_size=4k '
                            . 'overflow=drop_oldest', 'queue_size 4;'));
    $t->start;

    $s->refuse;

    my @sent = send_requests($t, 60, 2);
    is(scalar @sent, 120, 'every request answered 200');

    my $st = status($t)->{spool};
    my $dropped = $st->{dropped_events};
    cmp_ok($dropped, '>', 0, "events dropped ($dropped), and counted");
    cmp_ok($st->{fell_behind}, '>', 0, 'the destination fell behind on disk');

    $s->accept;
    my $got = {};
    ok(wait_for(sub { $got = received($s); $got->{$sent[-1]} }, 15),
       'the newest event is delivered');
    sleep 0.5;
    $got = received($s);

    # lost: the oldest segments' events, but for the 4 the queue held
    my @missing = grep { !$got->{$sent[$_]} } 0 .. $#sent;
    cmp_ok(scalar @missing, '<=', $dropped, 'nothing lost beyond the count');
    cmp_ok(scalar @missing, '>=', $dropped - 4,
           'and the count is what was lost, but for what the queue held '
           . '(' . scalar(@missing) . " missing, $dropped counted)");
    is(scalar(grep { $_ >= $dropped + 4 } @missing), 0,
       'the lost ones are among the oldest: every newer event is delivered');

    $t->done;
};

subtest 'a torn tail and a flipped byte: skipped, counted, the rest sent' =>
sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    $t->write_conf(conf($s, 'segment_size=4k sync=always'));
    $t->start;

    $s->refuse;

    my @sent = send_requests($t, 30, 1);
    is(scalar @sent, 30, 'thirty events accepted');

    $t->stop;

    my @segs = sort @{segments($t)};
    cmp_ok(scalar @segs, '>=', 3, 'in several segments') or return;

    # a byte of a payload in the first segment, the tail of the last
    my $first = $segs[0];
    open my $fh, '+<:raw', $first or die "$first: $!";
    sysseek $fh, 32 + 16 + 40, 0;
    sysread $fh, my $byte, 1;
    sysseek $fh, 32 + 16 + 40, 0;
    syswrite $fh, chr(ord($byte) ^ 0xff);
    close $fh;

    my $last = $segs[-1];
    truncate $last, (-s $last) - 10 or die "truncate $last: $!";

    $t->start;
    sleep 0.3;
    $s->accept;

    ok(wait_for(sub { scalar(keys %{received($s)}) >= 28 }, 15),
       'the undamaged events are delivered');
    my $got = received($s);
    my @lost = grep { !$got->{$_} } @sent;
    is(scalar @lost, 2, 'exactly the two damaged records are not');

    my $st;
    ok(wait_for(sub { $st = status($t)->{spool};
                      $st->{checksum_failures} >= 1 && $st->{torn_tails} >= 1 },
                5), 'both counted');
    is($st->{checksum_failures}, 1, 'one checksum failure');
    is($st->{torn_tails}, 1, 'one torn tail');
    like($t->error_log, qr/corrupt records .* skipped/, 'logged');

    $t->done;
};

subtest 'a destination gone from the configuration: said, not sent' => sub {
    my $t = CaptureTest->new;
    my $s = StandIn->new(dir => $t->dir);
    my $gone = StandIn->new(dir => $t->dir);
    my $conf = conf($s, 'sync=100ms');
    my $gu = $gone->url;
    $conf =~ s/location \/ingest\/ \{ capture ph; \}/location \/ingest\/ { capture ph old; }/;
    $conf .= "capture_destination old { type posthog; url $gu; }\n";
    $t->write_conf($conf);
    $t->start;

    $s->refuse;
    $gone->refuse;

    my @sent = @{send_events($t, 3)->[1]};
    $t->stop;

    $t->write_conf(conf($s, 'sync=100ms'));
    $t->start;
    $s->accept;

    ok(wait_for(sub { my $g = received($s); !grep { !$g->{$_} } @sent }, 15),
       'the destination still there gets its events');
    like($t->error_log, qr/has events for "old", which is no longer configured/,
         'the one gone is named');
    ok(wait_for(sub { $t->error_log =~ /the log "[^"]+" is delivered/ }, 5),
       'and the log is released');

    $t->done;
};

subtest 'configuration' => sub {
    {
        my $t = CaptureTest->new;
        my $s = StandIn->new(dir => $t->dir);
        $t->write_conf(conf($s, 'max_size=2g segment_size=64m'));
        my ($ok, $out) = $t->conf_test;
        ok($ok, 'max_size=2g is valid') or diag $out;
        $t->done;
    }

    for my $c (['max_size=lots', qr/invalid parameter "max_size=lots"/],
               ['sync=sometimes', qr/invalid parameter "sync=sometimes"/],
               ['segment_size=1k', qr/invalid parameter "segment_size=1k"/],
               ['colour=blue', qr/invalid parameter "colour=blue"/])
    {
        my $t = CaptureTest->new;
        my $s = StandIn->new(dir => $t->dir);
        $t->write_conf(conf($s, $c->[0]));
        my ($ok, $out) = $t->conf_test;
        ok(!$ok, "$c->[0]: nginx -t fails");
        like($out, $c->[1], "$c->[0]: reason") or diag $out;
        $t->done;
    }

    {
        my $t = CaptureTest->new;
        my $s = StandIn->new(dir => $t->dir);
        my $conf = conf($s, 'sync=off');
        $conf =~ s{%%DIR%%/spool}{%%DIR%%/var/spool/capture};
        $t->write_conf($conf);
        $t->start;
        is(send_events($t, 1)->[0], 200, 'a path whose parents do not exist');
        ok(-d $t->dir . '/var/spool/capture', 'is made, parents and all');
        $t->done;
    }

    my $t = CaptureTest->new;
    $t->write_conf(<<'EOF');
capture_destination local { type file; path %%DIR%%/events.jsonl; }
server { listen 127.0.0.1:%%PORT%%; location /ingest/ { capture local; } }
EOF
    $t->start;
    like($t->error_log, qr/\[notice\].*no capture_spool: events wait for their destinations in memory only/,
         'without a spool, a notice says so');
    $t->done;
};

done_testing;
