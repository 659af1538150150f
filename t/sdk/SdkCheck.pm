package SdkCheck;

# What t/sdk_node.t and t/sdk_browser.t share: running the Node drivers
# with a time limit, a background stand-in server, polling the events
# file, and checking one stored event against the event the SDK sent.

use strict;
use warnings;

use Exporter qw(import);
use FindBin ();
use IO::Socket::IP;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use CaptureTest qw(iso_ms);

our @EXPORT = qw(sdk_skip_reason run_node spawn_bg stop_bg wait_for
                 is_uuid is_json_string check_event index_by_uuid);

our $ROOT = "$FindBin::Bin/..";

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# why the SDK tests cannot run here, or undef
sub sdk_skip_reason {
    my (@packages) = @_;
    return 'CAPTURE_MODULE is not set' unless $ENV{CAPTURE_MODULE};
    return 'node is not installed'
        unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';
    for my $p (@packages) {
        return "node_modules/$p is missing (make deps)"
            unless -d "$ROOT/node_modules/$p";
    }
    return undef;
}

# Runs `node SCRIPT ARGS...` for at most $secs seconds; its stderr goes
# to ours.  Returns (exit status, decoded JSON of its stdout or undef,
# raw stdout).
sub run_node {
    my ($secs, $script, @args) = @_;
    open my $fh, '-|', 'timeout', '-k', '5', $secs, 'node', $script, @args
        or die "cannot run node: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my $status = $? >> 8;
    my $json = eval { $JSON->decode($out) };
    return ($status, $json, $out);
}

# Starts `node SCRIPT ARGS...` in the background (output to $log) and
# waits until it accepts on $port.  Returns its pid.
sub spawn_bg {
    my ($log, $port, $script, @args) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec 'node', $script, @args or POSIX::_exit(127);
    }
    my $up = wait_for(sub {
        IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port,
                            Proto => 'tcp', Timeout => 1);
    }, 10);
    die "$script did not listen on $port within 10 s" unless $up;
    return $pid;
}

sub stop_bg {
    my ($pid) = @_;
    return unless $pid;
    kill 'TERM', $pid;
    return if wait_for(sub { waitpid($pid, WNOHANG) != 0 }, 5);
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

# Calls $code until it returns a true value or $secs pass; returns that
# value (or the last false one).
sub wait_for {
    my ($code, $secs) = @_;
    my $deadline = time + $secs;
    for (;;) {
        my $v = $code->();
        return $v if $v || time > $deadline;
        sleep 0.1;
    }
}

sub is_uuid {
    my ($s) = @_;
    return defined $s && !ref $s
        && $s =~ /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
}

# a JSON string, not a number, array, object or null
sub is_json_string {
    my ($v) = @_;
    return defined $v && !ref $v && $JSON->encode($v) =~ /^"/;
}

sub index_by_uuid {
    my ($events) = @_;
    my %by;
    push @{$by{$_->{uuid} // ''}}, $_ for @$events;
    return \%by;
}

# Checks a stored event against the one the SDK sent:
#   token, lib   what token and properties.$lib must be
#   sent_at      the sent_at of the request that carried it
#   window       [first, last] epoch seconds the event may have been made
sub check_event {
    my ($ev, $sent, %want) = @_;
    my $name = "$sent->{event} " . ($sent->{properties}{test_id} // $sent->{uuid});

    subtest "stored $name" => sub {
        is($ev->{uuid}, $sent->{uuid}, 'uuid as sent');
        ok(is_uuid($ev->{uuid}), 'uuid is a valid uuid');
        is($ev->{event}, $sent->{event}, 'event name');
        ok(is_json_string($ev->{distinct_id}), 'distinct_id is a string');
        # posthog-js sends it in properties
        my $id = $sent->{distinct_id} // $sent->{properties}{distinct_id};
        is($ev->{distinct_id}, "$id", 'distinct_id as sent');
        is($ev->{token}, $want{token}, 'token');

        my ($lo, $hi) = map { $_ * 1000 } @{$want{window}};
        my $now = iso_ms($ev->{now});
        ok(defined $now, "now is ISO UTC ms: " . ($ev->{now} // 'undef'));
        ok($now && $now >= $lo - 2000 && $now <= $hi + 2000,
           'now is the time of the test');
        my $ts = iso_ms($ev->{timestamp});
        ok(defined $ts, "timestamp is ISO UTC ms: " . ($ev->{timestamp} // 'undef'));
        my $sent_ts = iso_ms(($sent->{timestamp} // '') =~ s/\.(\d{3})\d*Z$/.$1Z/r);
        ok($ts && $sent_ts && abs($ts - $sent_ts) <= 5000,
           "timestamp within 5 s of the sent $sent->{timestamp}");
        is($ev->{sent_at}, $want{sent_at}, 'sent_at of the request');
        ok(JSON::PP::is_bool($ev->{historical_migration})
           && !$ev->{historical_migration}, 'historical_migration false');

        my $p = $ev->{properties};
        is(ref $p, 'HASH', 'properties is an object') or return;
        is($p->{'$ip'}, '127.0.0.1', 'properties.$ip is the client');
        is($p->{'$lib'}, $want{lib}, 'properties.$lib');

        # every sent property kept; top-level $set/$set_once folded in
        my %expect = %{$sent->{properties} // {}};
        for my $k ('$set', '$set_once') {
            next unless ref $sent->{$k} eq 'HASH';
            $expect{$k} = { %{$expect{$k} // {}}, %{$sent->{$k}} };
        }
        is_deeply({ map { $_ => $p->{$_} } keys %expect }, \%expect,
                  'every sent property kept, $set/$set_once folded');
    };
}

1;
