#!/usr/bin/perl

# Per-destination property transforms: drop, salted SHA-256 hashes of
# properties and ids, $ip masked.  Each destination gets exactly its own
# changes; the others, and the canonical records, see the events as
# accepted.  The hashes are checked against Perl's Digest::SHA.  The salt
# (a literal or $NAME) never reaches the log; configuration mistakes fail
# nginx -t.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use Digest::SHA qw(sha256_hex);
use StandIn;

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $SALT = "s3cret-$$";
my $ENV_SALT = "envsalt-$$-" . int rand 10000;

my $t = CaptureTest->new;
my %s = map { $_ => StandIn->new(dir => $t->dir) } qw(plain seg hook ph2);
my %url = map { $_ => $s{$_}->url } keys %s;

$t->write_conf(<<"EOF");
capture_destination local { type file; path %%DIR%%/events.jsonl; }

capture_destination scrubbed {
    type          file;
    path          %%DIR%%/scrubbed.jsonl;
    include       order* counted;
    drop          email;
    anonymize_ip  on;
}

capture_destination plain {
    type posthog; url $url{plain}; compression off; flush_interval 50ms;
}

capture_destination seg {
    type              segment;
    url               $url{seg};
    write_key         segkey;
    flush_interval    50ms;
    drop              secret \$set_once;
    hash              email;
    hash_salt         $SALT;
    hash_distinct_id  on;
    anonymize_ip      on;
}

capture_destination hook {
    type            webhook;
    url             $url{hook}/events;
    flush_interval  50ms;
    drop            email phone;
    anonymize_ip    on;
}

capture_destination ph2 {
    type            posthog;
    url             $url{ph2};
    compression     off;
    flush_interval  50ms;
    hash            email plan;
    hash_salt       \$CAPTURE_TEST_SALT;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture local scrubbed plain seg hook ph2; }
}
EOF

# nginx reads hash_salt $CAPTURE_TEST_SALT when it starts
$ENV{CAPTURE_TEST_SALT} = $ENV_SALT;
$t->start;

my @uuids = map { sprintf '0193a5d2-7b4e-7c1a-9f3e-%012d', $_ } 1 .. 4;

my @events = (
    { uuid => $uuids[0], event => 'order placed', distinct_id => 'user-1',
      properties => { '$ip' => '203.0.113.7', email => 'a@example.com',
                      phone => '+33 1 23', secret => 'x', total => 12.5,
                      '$device_id' => 'dev-1' } },
    { uuid => $uuids[1], event => '$identify', distinct_id => 'user-1',
      properties => { '$ip' => '2001:db8:1:2:3:4:5:6',
                      '$anon_distinct_id' => 'anon-1',
                      '$set' => { email => 'a@example.com', plan => 'pro' },
                      '$set_once' => { first => 'yes' } } },
    { uuid => $uuids[2], event => '$create_alias', distinct_id => 'user-1',
      properties => { alias => 'anon-1', '$ip' => 'not an address' } },
    { uuid => $uuids[3], event => 'counted', distinct_id => 42,
      properties => { email => undef, plan => 7, '$ip' => '198.51.100.1' } },
);

my $r = $t->request(method => 'POST', path => '/ingest/batch/',
    headers => { 'Content-Type' => 'application/json' },
    body => encode_json({ api_key => 'phc_transform', batch => \@events }));
is($r->{status}, 200, 'four events accepted');

my %got = map { $_ => $s{$_}->wait_events(4, 10) } qw(plain seg ph2);
$got{hook} = hook_records(4);
my %by = map { my $d = $_; $d => { map { (($_->{messageId} // $_->{uuid})
                                          => $_) } @{$got{$d}} } } keys %got;

sub h { my ($salt, $v) = @_; sha256_hex($salt . $v) }

# the webhook's bodies are JSON arrays of records
sub hook_records {
    my ($n) = @_;
    for (1 .. 200) {
        my @recs = map { ref $_->{json} eq 'ARRAY' ? @{$_->{json}} : () }
                   @{$s{hook}->requests};
        return \@recs if @recs >= $n;
        select undef, undef, undef, 0.05;
    }
    return [];
}

subtest 'the destination without transforms gets the events whole' => sub {
    my $e = $by{plain};
    is($e->{$uuids[0]}{properties}{email}, 'a@example.com', 'email');
    is($e->{$uuids[0]}{properties}{secret}, 'x', 'secret');
    is($e->{$uuids[0]}{properties}{'$ip'}, '203.0.113.7', '$ip');
    is($e->{$uuids[0]}{distinct_id}, 'user-1', 'distinct_id');
    is_deeply($e->{$uuids[1]}{properties}{'$set_once'}, { first => 'yes' },
              '$set_once');
    is($e->{$uuids[2]}{properties}{'$ip'}, 'not an address',
       'a $ip that is not an address');
};

subtest 'the canonical records are untouched' => sub {
    my %rec = map { $_->{uuid} => $_ } @{$t->events};
    is($rec{$uuids[0]}{properties}{email}, 'a@example.com', 'email');
    is($rec{$uuids[1]}{properties}{'$set'}{email}, 'a@example.com',
       '$set.email');
    is($rec{$uuids[0]}{properties}{'$ip'}, '203.0.113.7', '$ip');
};

subtest 'a file destination filters and transforms too' => sub {
    my $rec = $t->events('scrubbed.jsonl');
    is_deeply([map { $_->{uuid} } @$rec], [@uuids[0, 3]],
              'only the included events, in one write each request');
    ok(!exists $rec->[0]{properties}{email}, 'email dropped');
    is($rec->[0]{properties}{phone}, '+33 1 23', 'phone kept');
    is($rec->[0]{properties}{'$ip'}, '203.0.113.0', '$ip masked');
    is($rec->[1]{properties}{'$ip'}, '198.51.100.0', 'and in the other');
    is($rec->[0]{token}, 'phc_transform', 'whole canonical records');
};

subtest 'segment: drop, hash, hash_distinct_id, anonymize_ip' => sub {
    my $m = $by{seg};
    my $track = $m->{$uuids[0]};
    is($track->{type}, 'track', 'a track');
    is($track->{anonymousId}, h($SALT, 'user-1'), 'anonymousId hashed');
    is($track->{properties}{email}, h($SALT, 'a@example.com'),
       'email hashed with the salt');
    ok(!exists $track->{properties}{secret}, 'secret dropped');
    is($track->{properties}{phone}, '+33 1 23', 'phone kept (not listed)');
    is($track->{properties}{total}, 12.5, 'other properties kept');
    is($track->{properties}{'$device_id'}, h($SALT, 'dev-1'),
       '$device_id hashed as an id');
    is($track->{context}{ip}, '203.0.113.0', 'IPv4 masked');

    my $id = $m->{$uuids[1]};
    is($id->{type}, 'identify', 'an identify');
    is($id->{userId}, h($SALT, 'user-1'), 'userId hashed');
    is($id->{anonymousId}, h($SALT, 'anon-1'), 'anonymousId hashed');
    is($id->{traits}{email}, h($SALT, 'a@example.com'),
       'traits.email hashed (from $set)');
    is($id->{traits}{plan}, 'pro', 'traits.plan kept');
    ok(!exists $id->{traits}{first}, '$set_once dropped whole');
    is($id->{context}{ip}, '2001:db8:1::', 'IPv6 masked to /48');

    my $alias = $m->{$uuids[2]};
    is($alias->{type}, 'alias', 'an alias');
    is($alias->{userId}, h($SALT, 'user-1'), 'userId hashed');
    is($alias->{previousId}, h($SALT, 'anon-1'),
       'previousId hashed: the alias still links the two hashed ids');
    ok(!exists $alias->{context}{ip}, 'a $ip that is not an address removed');

    my $n = $m->{$uuids[3]};
    is($n->{anonymousId}, h($SALT, '42'), 'a number id hashed as its text');
    ok(exists $n->{properties}{email} && !defined $n->{properties}{email},
       'null stays null');
};

subtest 'webhook: its own drops, ids as sent' => sub {
    my $rec = $by{hook};
    my $e = $rec->{$uuids[0]};
    ok(!exists $e->{properties}{email}, 'email dropped');
    ok(!exists $e->{properties}{phone}, 'phone dropped');
    is($e->{properties}{secret}, 'x', "secret kept: segment's drop is not "
       . 'its own');
    is($e->{properties}{'$ip'}, '203.0.113.0', '$ip masked');
    is($e->{distinct_id}, 'user-1', 'distinct_id as sent');
    ok(!exists $rec->{$uuids[1]}{properties}{'$set'}{email},
       '$set.email dropped');
    is($rec->{$uuids[1]}{properties}{'$set'}{plan}, 'pro', '$set.plan kept');
    is($e->{uuid}, $uuids[0], 'a whole canonical record');
    is($e->{token}, 'phc_transform', 'with its token');
};

subtest 'posthog: the salt from the environment' => sub {
    my $e = $by{ph2};
    is($e->{$uuids[0]}{properties}{email}, h($ENV_SALT, 'a@example.com'),
       'email hashed with $CAPTURE_TEST_SALT');
    is($e->{$uuids[1]}{properties}{'$set'}{plan}, h($ENV_SALT, 'pro'),
       '$set.plan hashed');
    is($e->{$uuids[3]}{properties}{plan}, h($ENV_SALT, '7'),
       'a number hashed as its text');
    is($e->{$uuids[0]}{distinct_id}, 'user-1', 'distinct_id as sent');
    is($e->{$uuids[0]}{properties}{'$ip'}, '203.0.113.7', '$ip as sent');
};

my $log = $t->error_log;
unlike($log, qr/\Q$SALT\E|\Q$ENV_SALT\E/, 'no salt in the log');

$t->done;

# --- configuration mistakes ---

my $server = <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture d; }
}
EOF

sub dest {
    return "capture_destination d {\n"
        . join('', map { "    $_\n" } 'type posthog;',
               'url http://127.0.0.1:9;', @_)
        . "}\n";
}

sub broken {
    my ($name, $http, $reason, $at) = @_;
    my $c = CaptureTest->new;
    $c->write_conf($http);
    my ($ok, $out) = $c->conf_test;
    ok(!$ok, "$name: nginx -t fails");
    like($out, $reason, "$name: reason") or diag $out;
    my @conf = split /\n/, $c->conf;
    my ($line) = grep { $conf[$_ - 1] =~ $at } 1 .. @conf;
    like($out, qr/nginx\.conf:$line\b/, "$name: names line $line") or diag $out;
    unlike($out, qr/hunter2/, "$name: no salt in the message");
    $c->done;
}

broken('hash without a salt', dest('hash email;') . $server,
       qr/hashes values but has no "hash_salt"/, qr/^capture_destination d/);
broken('hash_distinct_id without a salt',
       dest('hash_distinct_id on;') . $server,
       qr/hashes values but has no "hash_salt"/, qr/^capture_destination d/);
broken('a salt with nothing to hash', dest('hash_salt hunter2;') . $server,
       qr/"hash_salt" without "hash"/, qr/hash_salt/);
broken('a salt from an unset variable',
       dest('hash email;', 'hash_salt $CAPTURE_NO_SUCH_SALT;') . $server,
       qr/"CAPTURE_NO_SUCH_SALT" is not set/, qr/hash_salt/);
broken('anonymize_ip maybe', dest('anonymize_ip maybe;') . $server,
       qr/invalid "anonymize_ip": use "on" or "off"/, qr/anonymize_ip/);
broken('an empty name', dest('drop "";') . $server,
       qr/"drop" has an empty property name/, qr/drop/);

done_testing;
