#!/usr/bin/perl
# The file destination: one JSON line per event, several destinations,
# reopening on USR1 (log rotation), a reload (HUP), and concurrent writers
# in two workers.

use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

my $t = CaptureTest->new;
$t->write_conf(<<'EOF', workers => 2);
capture_destination local { type file; path %%DIR%%/events.jsonl; }
capture_destination copy  { type file; path %%DIR%%/copy.jsonl; }

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture local;
    }

    location /both/ {
        capture local copy;
    }

    location /copy/ {
        capture copy;
    }
}
EOF
$t->start;

sub ev {
    my ($name, %p) = @_;
    return { event => $name, distinct_id => 'u1',
        properties => { token => 'phc_file', %p } };
}

sub post {
    my ($path, $data) = @_;
    my $r = $t->request(method => 'POST', path => $path,
        body => encode_json($data),
        headers => { 'Content-Type' => 'application/json' });
    return $r->{status};
}

sub names {
    my ($file) = @_;
    return [ map { $_->{event} } @{ $t->events($file) } ];
}

sub read_raw {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return undef;
    local $/;
    return scalar <$fh>;
}

# lines

is(post('/ingest/e/', [ ev('a1'), ev('a2') ]), 200, 'two events');
{
    my $raw = read_raw($t->dir . '/events.jsonl') // '';
    my @lines = split /\n/, $raw, -1;
    is(scalar @lines, 3, 'two lines, each ending in a newline');
    is($lines[-1], '', 'file ends with a newline');
    my $json = JSON::PP->new->utf8;
    is(scalar(grep { my $l = $_; ref(eval { $json->decode($l) }) eq 'HASH' }
        @lines[0 .. 1]), 2, 'each line one JSON object');
}

# several destinations

is(post('/both/e/', ev('both')), 200, 'event to two destinations');
is(post('/copy/e/', ev('copy only')), 200, 'event to the second one');
is_deeply(names('events.jsonl'), [ 'a1', 'a2', 'both' ], 'first file');
is_deeply(names('copy.jsonl'), [ 'both', 'copy only' ], 'second file');
{
    my ($a) = grep { $_->{event} eq 'both' } @{ $t->events('events.jsonl') };
    my ($b) = grep { $_->{event} eq 'both' } @{ $t->events('copy.jsonl') };
    is_deeply($a, $b, 'the same record in both files');
}

# reopen after rotation

my $dir = $t->dir;
rename "$dir/events.jsonl", "$dir/events.jsonl.1" or die "rename: $!";
is(post('/ingest/e/', ev('before reopen')), 200, 'event before USR1');
$t->signal('USR1');

# both workers must have reopened: several requests
for my $i (1 .. 6) {
    is(post('/ingest/e/', ev("after reopen $i")), 200, "event $i after USR1");
}

ok(-f "$dir/events.jsonl", 'a new events.jsonl after USR1');
is_deeply(names('events.jsonl'), [ map { "after reopen $_" } 1 .. 6 ],
    'the new file has the new events');
is_deeply(names('events.jsonl.1'), [ 'a1', 'a2', 'both', 'before reopen' ],
    'the old file has the old events');

# reload

$t->signal('HUP', 1);
is(post('/ingest/e/', ev('after reload')), 200, 'event after HUP');
is(names('events.jsonl')->[-1], 'after reload', 'written after reload');

# concurrency: 200 requests from 5 processes into two workers

unlink "$dir/events.jsonl";
$t->signal('USR1');

my ($procs, $per) = (5, 40);
my @pids;
for my $p (1 .. $procs) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $fails = 0;
        for my $i (1 .. $per) {
            # sizes from about 100 bytes to 30 KB, two events a request
            my $pad = 'x' x (($p * 7919 + $i * 104729) % 30000);
            my $status = eval { post('/ingest/batch/', {
                api_key => 'phc_file', batch => [
                    ev("c-$p-$i-a", pad => $pad),
                    ev("c-$p-$i-b", n => $i),
                ] }) } // 0;
            $fails++ unless $status == 200;
        }
        POSIX::_exit($fails > 255 ? 255 : $fails);
    }
    push @pids, $pid;
}

my $failed = 0;
for my $pid (@pids) {
    waitpid $pid, 0;
    $failed += $? >> 8;
}
is($failed, 0, 'all concurrent requests answered 200');

{
    my $raw = read_raw("$dir/events.jsonl") // '';
    my @lines = split /\n/, $raw;
    my $json = JSON::PP->new->utf8;
    my (%seen, $bad);
    for my $l (@lines) {
        my $ev = eval { $json->decode($l) };
        if (ref $ev ne 'HASH') { $bad++; next; }
        $seen{ $ev->{event} }++;
    }
    is($bad // 0, 0, 'every line parses as JSON');
    is(scalar @lines, 2 * $procs * $per, 'line count matches');
    my @missing = grep { !$seen{$_} }
        map { my $p = $_; map { ("c-$p-$_-a", "c-$p-$_-b") } 1 .. $per }
        1 .. $procs;
    is(scalar @missing, 0, 'every event written') or diag "@missing[0..9]";
    is(scalar(grep { $_ != 1 } values %seen), 0, 'no event written twice');
    ok(substr($raw, -1) eq "\n", 'file ends with a newline');
}

$t->done;
done_testing;
