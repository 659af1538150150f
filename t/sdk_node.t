#!/usr/bin/perl

# The real posthog-node SDK against the module, with its gzip and
# without: every event it sends is answered 200 {"status":"Ok"} and
# stored once in the file as sent, with $ip, token, uuid and times.
# The driver is t/sdk/posthog-node.mjs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sdk";

use Test::More;
use Time::HiRes qw(time);

use CaptureTest qw(iso_ms);
use SdkCheck;

my $skip = sdk_skip_reason('posthog-node');
plan skip_all => $skip if $skip;

my $t = CaptureTest->new;
$t->write_conf(<<'EOF');
capture_destination local { type file; path %%DIR%%/events.jsonl; }

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture local;
    }
}
EOF
$t->start;

my $host = 'http://127.0.0.1:' . $t->port . '/ingest';

for my $mode (qw(gzip plain)) {
    subtest "posthog-node, $mode" => sub { run_sdk($mode) };
}

$t->done;
done_testing;


sub run_sdk {
    my ($mode) = @_;
    my $run = "$mode-$$";
    my $user = "node-user-$run";
    my $t0 = time;

    my ($status, $out) = run_node(60, "$FindBin::Bin/sdk/posthog-node.mjs",
                                  $host, $run, $mode);
    is($status, 0, 'posthog-node sent everything without an error');
    ok(ref $out eq 'HASH', 'the driver reported what it sent') or return;

    # on the wire
    my @reqs = @{$out->{requests}};
    is(scalar @reqs, 7, 'six single requests and one batch');
    for my $r (@reqs) {
        my $what = "$r->{method} $r->{path} (" . @{$r->{events}} . ' events)';
        is("$r->{method} $r->{path}", 'POST /ingest/batch/', "$what: path");
        is($r->{status}, 200, "$what: status");
        is($r->{response}, '{"status":"Ok"}', "$what: body");
        if ($mode eq 'gzip') {
            is($r->{content_encoding}, 'gzip', "$what: Content-Encoding gzip");
            like($r->{body_hex}, qr/^1f8b08/, "$what: gzip body");
        } else {
            is($r->{content_encoding}, undef, "$what: no Content-Encoding");
            like($r->{body_hex}, qr/^7b/, "$what: plain JSON body");
        }
    }
    ok((grep { @{$_->{events}} == 20 } @reqs), 'a batch of 20 events');

    # in the file: each sent event exactly once
    my @sent = map { my $r = $_; map { [$_, $r->{sent_at}] } @{$r->{events}} }
               @reqs;
    my %want = map { $_->[0]{uuid} => 1 } @sent;
    my $by = wait_for(sub {
        my $by = index_by_uuid($t->events('events.jsonl'));
        (grep { !$by->{$_} } keys %want) ? undef : $by;
    }, 15) // index_by_uuid($t->events('events.jsonl'));
    my $t1 = time;

    is(scalar @sent, 26, '26 events sent');
    for my $s (@sent) {
        my ($sent, $sent_at) = @$s;
        my $stored = $by->{$sent->{uuid}} // [];
        is(scalar @$stored, 1, "event $sent->{uuid} stored once") or next;
        check_event($stored->[0], $sent, token => 'phc_test_token',
                    lib => 'posthog-node', sent_at => $sent_at,
                    window => [$t0, $t1]);
    }

    # what each call of the SDK became
    my @mine = map { @{$by->{$_} // []} } sort keys %want;
    my %test = map { ($_->{properties}{test_id} // '') => $_ } @mine;
    my %name = map { $_->{event} => $_ } @mine;

    my $ev = $test{"$run-capture"};
    is($ev && $ev->{distinct_id}, $user, 'capture: distinct_id');
    is_deeply($ev && $ev->{properties}{nested},
              { list => [1, 'two', undef], ok => JSON::PP::true },
              'capture: nested properties');
    is($ev && $ev->{properties}{text}, "h\x{e9}llo w\x{f6}rld \x{2713}",
       'capture: UTF-8 text');
    ok($ev && $ev->{properties}{'$geoip_disable'},
       'capture: $geoip_disable kept (and $ip set all the same)');

    $ev = $name{'$identify'};
    is($ev && $ev->{distinct_id}, $user, '$identify: distinct_id');
    is_deeply($ev && $ev->{properties}{'$set'},
              { email => "$user\@example.com", name => 'Node Tester' },
              '$identify: properties.$set');
    is_deeply($ev && $ev->{properties}{'$set_once'}, { first_run => $run },
              '$identify: properties.$set_once');

    $ev = $name{'$create_alias'};
    is($ev && $ev->{properties}{alias}, "node-alias-$run",
       '$create_alias: properties.alias');
    is($ev && $ev->{properties}{distinct_id}, $user,
       '$create_alias: properties.distinct_id');

    $ev = $name{'$groupidentify'};
    is($ev && $ev->{distinct_id}, "\$company_company-$run",
       '$groupidentify: distinct_id');
    is($ev && $ev->{properties}{'$group_type'}, 'company', '$group_type');
    is($ev && $ev->{properties}{'$group_key'}, "company-$run", '$group_key');
    is_deeply($ev && $ev->{properties}{'$group_set'},
              { name => 'Acme', employees => 12 }, '$group_set');

    $ev = $test{"$run-groups"};
    is_deeply($ev && $ev->{properties}{'$groups'}, { company => "company-$run" },
              'capture with groups: properties.$groups');

    $ev = $test{"$run-past"};
    my $age = $ev && (iso_ms($ev->{now}) - iso_ms($ev->{timestamp})) / 1000;
    ok($age && abs($age - 3600) < 10, 'a timestamp an hour ago is kept')
        or diag(explain($ev));

    is(scalar(grep { $test{"$run-batch-$_"} } 0 .. 19), 20,
       'all 20 batched events');
}
