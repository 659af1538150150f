#!/usr/bin/perl
# The queue of the PostHog destination is bounded: with overflow reject
# (the default) a request whose events do not fit is answered 503 with
# Retry-After and nothing of it is kept, by this destination or by any
# other of its location; with overflow drop_oldest it is accepted and
# the oldest waiting events go, with a warn line.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use StandIn;

use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $t = CaptureTest->new;
my %s = map { $_ => StandIn->new(dir => $t->dir) } qw(ph ph2 drop);

my $conf = <<'EOF';
capture_destination local { type file; path %%DIR%%/events.jsonl; }

capture_destination ph {
    type posthog;
    url %%URL_ph%%;
    queue_size 5;
    flush_interval 50ms;
    timeout 2s;
    retry_delay 100ms;
    retry_max_delay 200ms;
}

capture_destination ph2 {
    type posthog;
    url %%URL_ph2%%;
    queue_size 2;
    flush_interval 50ms;
    timeout 2s;
    retry_delay 100ms;
    retry_max_delay 200ms;
}

capture_destination drop {
    type posthog;
    url %%URL_drop%%;
    queue_size 3;
    overflow drop_oldest;
    flush_interval 30s;
}

server {
    listen 127.0.0.1:%%PORT%%;

    location /ph/   { capture ph; }
    location /both/ { capture local ph2; }
    location /drop/ { capture drop; }
}
EOF
$conf =~ s/%%URL_(\w+)%%/$s{$1}->url/ge;
$t->write_conf($conf);
$t->start;

my $n_uuid = 0;

sub uuid {
    return sprintf '%08x-%04x-7%03x-8%03x-%012x',
        $$ & 0xffffffff, 0x0192, 0x345, 0x678, ++$n_uuid;
}

# one request of $n events; returns (the response, their uuids)
sub send_events {
    my ($path, $n) = @_;
    my @evs = map { { uuid => uuid(), event => "queue $_", distinct_id => 'u1' } } 1 .. $n;
    my $r = $t->request(method => 'POST', path => $path,
        body => encode_json({ api_key => 'phc_queue', batch => \@evs }),
        headers => { 'Content-Type' => 'application/json' });
    return ($r, [ map { $_->{uuid} } @evs ]);
}

sub accepted {
    my ($path, $n, $name) = @_;
    my ($r, $u) = send_events($path, $n);
    is($r->{status}, 200, "$name: accepted") or diag explain $r;
    return @$u;
}

sub rejected {
    my ($path, $n, $dest, $name) = @_;
    my ($r, $u) = send_events($path, $n);
    is($r->{status}, 503, "$name: 503") or diag explain $r;
    is($r->{headers}{'retry-after'}, '1', "$name: Retry-After: 1");
    like($r->{headers}{'content-type'} // '', qr{^text/plain}, "$name: a plain-text reason");
    like($r->{body}, qr/queue of destination "\Q$dest\E" is full/,
         "$name: the reason names the destination ($r->{body})");
    return @$u;
}

sub log_lines {
    my ($re) = @_;
    return grep { $_ =~ $re } split /\n/, $t->error_log;
}


# --- queue_size 5, the stand-in hangs: the 6th event is refused ---
{
    $s{ph}->mode('hang');
    my @ok = map { accepted('/ph/e/', 1, "ph: event $_ of 5") } 1 .. 5;
    $s{ph}->wait_requests(1, 3);
    my @no = rejected('/ph/e/', 1, 'ph', 'ph: the 6th while 5 are held');
    my @no2 = rejected('/ph/batch/', 2, 'ph', 'ph: and a request of two');
    is(scalar log_lines(qr/\[error\].*request rejected with 503.*"ph" is full/), 2,
       'ph: an error line for each rejected request');

    # recovered: exactly the five accepted arrive, once each
    $s{ph}->mode('ok');
    my $ev = $s{ph}->wait_events(5, 6);
    sleep 0.5;
    $ev = $s{ph}->events;
    is_deeply([sort map { $_->{uuid} } @$ev], [sort @ok],
              'ph: after recovery, exactly the five accepted uuids, once each');
    my %seen = map { $_ => 1 } map { @{ [ map { $_->{uuid} } @{ $_->{json}{batch} // [] } ] } }
        @{$s{ph}->requests};
    ok(!(grep { $seen{$_} } @no, @no2), 'ph: the rejected events were never sent');

    # room again
    my @more = accepted('/ph/e/', 1, 'ph: room again once delivered');
    $ev = $s{ph}->wait_events(6, 3);
    is($ev->[-1]{uuid}, $more[0], 'ph: and delivered');
}


# --- capture local ph2: ph2 full, the file gets nothing of the request ---
{
    $s{ph2}->mode('hang');
    my @ok = accepted('/both/batch/', 2, 'both: two events');
    is(scalar @{$t->events('events.jsonl')}, 2, 'both: the file has them');
    $s{ph2}->wait_requests(1, 3);
    my @no = rejected('/both/e/', 1, 'ph2', 'both: one more while ph2 is full');
    is_deeply([map { $_->{uuid} } @{$t->events('events.jsonl')}], \@ok,
              'both: the file got nothing of the rejected request');

    $s{ph2}->mode('ok');
    my $ev = $s{ph2}->wait_events(2, 6);
    sleep 0.3;
    is_deeply([sort map { $_->{uuid} } @{$s{ph2}->events}], [sort @ok],
              'both: ph2 delivers exactly the accepted two');
}


# --- overflow drop_oldest: accepted, the oldest waiting events dropped ---
my (@drop_kept, @drop_lost);
{
    my @first = map { accepted('/drop/e/', 1, "drop: event $_ of 3") } 1 .. 3;
    is(scalar log_lines(qr/oldest events dropped/), 0, 'drop: nothing dropped yet');

    my @fourth = accepted('/drop/e/', 1, 'drop: a 4th into a full queue');
    my @w = log_lines(qr/\[warn\].*capture destination "drop": queue full, \d+ oldest events dropped/);
    is(scalar @w, 1, 'drop: a warn line');
    like($w[0] // '', qr/queue full, 1 oldest events dropped/, 'drop: it says 1 dropped');

    my @two = accepted('/drop/batch/', 2, 'drop: two more');
    @w = log_lines(qr/\[warn\].*capture destination "drop": queue full, \d+ oldest events dropped/);
    is(scalar @w, 2, 'drop: a second warn line');
    like($w[1] // '', qr/queue full, 2 oldest events dropped/, 'drop: it says 2 dropped');

    my ($r) = send_events('/drop/batch/', 4);
    is($r->{status}, 503, 'drop: a request larger than the whole queue is still refused');

    is(scalar @{$s{drop}->requests}, 0, 'drop: nothing sent yet (flush_interval 30s)');
    @drop_kept = (@fourth, @two);
    @drop_lost = @first;
}

# the exit sends what is held: the newest three
$t->stop;
is_deeply([map { $_->{uuid} } @{$s{drop}->events}], \@drop_kept,
          'drop: at exit the newest three are delivered, the dropped never');

$t->done;
done_testing;
