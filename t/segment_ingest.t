#!/usr/bin/perl

# Segment-spec ingestion: Segment's and RudderStack's HTTP API under a
# capture location with capture_write_key.  The answers (200 accepted,
# 400 for bad JSON or a message without ids, 401 for a missing or wrong
# write key), the key in Basic authorization or in the body (as
# analytics.js sends it), analytics.js' short paths, gzip, the key from
# the environment, no secret in the logs; and the real
# @segment/analytics-node and @rudderstack/rudder-sdk-node pointed at the
# module, whose messages reach the PostHog stand-in as PostHog events.
# The driver is t/sdk/segment-ingest.mjs.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sdk";

use Test::More;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

use CaptureTest qw(encode_json gzip_bytes);
use StandIn;
use SdkCheck;

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $KEY = sprintf 'wk%d%04dtest', $$, int rand 10000;
my $ENV_KEY = "env$KEY";
my $TOKEN = 'phc_ingest_token';
my $UUID_RE = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

my $t = CaptureTest->new;
my $ph = StandIn->new(dir => $t->dir);
my $phurl = $ph->url;

$t->write_conf(<<"EOF");
capture_destination local { type file; path %%DIR%%/events.jsonl; }

capture_destination posthog {
    type            posthog;
    url             $phurl;
    compression     off;
    flush_interval  50ms;
}

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture            local posthog;
        capture_write_key  $KEY token=$TOKEN group_type=organization;
        capture_write_key  \$CAPTURE_TEST_WRITE_KEY;
    }

    location /plain/ {
        capture local;
    }

    location /status {
        capture_status;
    }
}
EOF

# nginx reads capture_write_key $CAPTURE_TEST_WRITE_KEY when it starts
$ENV{CAPTURE_TEST_WRITE_KEY} = $ENV_KEY;
$t->start;

my $n = 0;

# --- answers ---

subtest 'a batch with the key in Basic authorization' => sub {
    my $before = @{$t->events};
    my $r = post('/ingest/v1/batch',
                 { batch => [ msg(userId => 'u-1', properties => { a => 1 }),
                              msg(type => 'identify', userId => 'u-1',
                                  traits => { email => 'a@example.com' }) ],
                   sentAt => '2024-05-06T07:08:09.010Z' },
                 Authorization => basic($KEY));
    is($r->{status}, 200, 'answered 200') or diag($r->{body});
    is($r->{body}, '{"success":true}', "Segment's answer");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         'as JSON');

    my $rec = records_since($before);
    is(scalar @$rec, 2, 'two records');
    is($rec->[0]{token}, $TOKEN, 'the token the write key names');
    is($rec->[0]{event}, 'ingest ' . ($n - 1), 'track: the event name');
    is($rec->[0]{distinct_id}, 'u-1', 'distinct_id: userId');
    is($rec->[0]{properties}{a}, 1, 'properties kept');
    is($rec->[1]{event}, '$identify', 'identify with a userId: $identify');
    is($rec->[1]{properties}{'$set'}{email}, 'a@example.com',
       'traits: $set');
    like($rec->[0]{uuid} // '', $UUID_RE, 'a uuid derived from the messageId');
    isnt($rec->[0]{uuid}, $rec->[1]{uuid}, 'one per message');
};

subtest 'the same messageId gives the same uuid' => sub {
    my $before = @{$t->events};
    my $m = msg(messageId => "stable-$$");
    for (1 .. 2) {
        is(post('/ingest/v1/batch', { batch => [$m] },
                Authorization => basic($KEY))->{status}, 200, "sent $_");
    }
    my $rec = records_since($before);
    is(scalar @$rec, 2, 'two records');
    is($rec->[0]{uuid}, $rec->[1]{uuid}, 'equal uuids: PostHog deduplicates');

    my $u = '0193a5d2-7b4e-7c1a-9f3e-00000000abcd';
    $before = @{$t->events};
    post('/ingest/v1/batch', { batch => [ msg(messageId => uc $u) ] },
         Authorization => basic($KEY));
    is(records_since($before)->[0]{uuid}, $u, 'a UUID messageId is the uuid');
};

subtest "single-message paths, and analytics.js' short ones" => sub {
    my %paths = (track => 'track', t => 'track', identify => 'identify',
                 i => 'identify', page => 'page', p => 'page',
                 screen => 'screen', s => 'screen', group => 'group',
                 g => 'group', alias => 'alias', a => 'alias');
    my %event = (identify => '$identify', page => '$pageview',
                 screen => '$screen', group => '$groupidentify',
                 alias => '$create_alias');

    for my $p (sort keys %paths) {
        my $type = $paths{$p};
        my %m = (userId => "u-$p", anonymousId => "a-$p");
        $m{event} = "single $p" if $type eq 'track';
        $m{groupId} = "g-$p" if $type eq 'group';
        $m{previousId} = "old-$p" if $type eq 'alias';
        $m{name} = "Name $p" if $type eq 'page' || $type eq 'screen';

        # analytics.js: text/plain, the key in the body, no type member
        my $before = @{$t->events};
        my $r = post("/ingest/v1/$p", { writeKey => $KEY, %m },
                     'Content-Type' => 'text/plain');
        is($r->{status}, 200, "v1/$p: 200") or diag($r->{body});
        my $rec = records_since($before)->[0] // {};
        is($rec->{event}, $event{$type} // "single $p", "v1/$p: the event");
        is($rec->{distinct_id}, "u-$p", "v1/$p: distinct_id");
    }

    my $before = @{$t->events};
    post('/ingest/v1/group', { writeKey => $KEY, userId => 'u', groupId => 7,
                               traits => { name => 'Seven' } });
    my $rec = records_since($before)->[0] // {};
    is($rec->{properties}{'$group_key'}, '7', 'group: a number id as text');
    is($rec->{properties}{'$group_type'}, 'organization',
       'group: the group_type of the write key');
};

subtest 'gzip, and the key from the environment' => sub {
    my $before = @{$t->events};
    my $r = post('/ingest/v1/batch',
                 gzip_bytes(encode_json({ batch => [ msg(event => 'zipped') ] })),
                 Authorization => basic($ENV_KEY),
                 'Content-Encoding' => 'gzip');
    is($r->{status}, 200, "gzip body with the environment's key: 200")
        or diag($r->{body});
    my $rec = records_since($before)->[0] // {};
    is($rec->{event}, 'zipped', 'decoded');
    is($rec->{token}, $ENV_KEY, 'without token=, the write key is the token');
};

subtest '401: no key, a wrong key' => sub {
    my @cases = (
        [ 'no key', {}, qr/no write key/ ],
        [ 'a wrong key', { Authorization => basic("x$KEY") },
          qr/invalid write key/ ],
        [ 'not Basic', { Authorization => "Bearer $KEY" },
          qr/invalid write key/ ],
        [ 'not base64', { Authorization => 'Basic %%%' },
          qr/invalid write key/ ],
    );
    my $before = @{$t->events};
    for my $c (@cases) {
        my ($what, $h, $re) = @$c;
        my $r = post('/ingest/v1/batch', { batch => [ msg() ] }, %$h);
        is($r->{status}, 401, "$what: 401");
        like($r->{body}, $re, "$what: the reason");
    }
    my $r = post('/ingest/v1/track', { writeKey => "y$KEY", %{ msg() } });
    is($r->{status}, 401, 'a wrong key in the body: 401');
    is(scalar @{records_since($before)}, 0, 'nothing accepted');
};

subtest '400: bad JSON, no ids, bad types' => sub {
    my @cases = (
        [ 'bad JSON', '{"batch": [', qr/parse/ ],
        [ 'neither userId nor anonymousId',
          { batch => [ msg(), msg(anonymousId => undef) ] },
          qr/neither userId nor anonymousId/ ],
        [ 'empty ids', { batch => [ msg(anonymousId => '', userId => '') ] },
          qr/neither userId nor anonymousId/ ],
        [ 'an unknown type', { batch => [ msg(type => 'shout') ] },
          qr/shout/ ],
        [ 'a track without event', { batch => [ msg(event => undef) ] },
          qr/event/ ],
        [ 'batch not an array', { batch => 'no' }, qr/batch/ ],
    );
    my $before = @{$t->events};
    for my $c (@cases) {
        my ($what, $body, $re) = @$c;
        my $r = post('/ingest/v1/batch', $body, Authorization => basic($KEY));
        is($r->{status}, 400, "$what: 400");
        like($r->{body}, $re, "$what: the reason") or diag($r->{body});
    }
    my $r = post('/ingest/v1/identify', { writeKey => $KEY,
                                          %{ msg(type => 'track') } });
    is($r->{status}, 400, "a type other than the path's: 400");
    is(scalar @{records_since($before)}, 0,
       'nothing of a rejected request is accepted');
};

subtest 'without capture_write_key, v1/ paths are not captured' => sub {
    my $r = post('/plain/v1/batch', { batch => [ msg() ] },
                 Authorization => basic($KEY));
    is($r->{status}, 404, '404, as any other path of the location');
};

subtest 'status counts Segment-spec requests' => sub {
    my $r = $t->request(path => '/status');
    my $j = JSON::PP->new->decode($r->{body});
    cmp_ok($j->{requests}{by_endpoint}{segment}, '>=', 20,
           'requests counted under "segment"');
};

# --- the real SDKs ---

SKIP: {
    my $skip = sdk_skip_reason('@segment/analytics-node',
                               '@rudderstack/rudder-sdk-node');
    skip $skip, 1 if $skip;

    subtest 'analytics-node and rudder-sdk-node to PostHog' => sub {
        # what the requests above sent has arrived: only the SDKs' follows
        $ph->wait_events(scalar @{$t->events}, 10);
        $ph->reset;
        my $base = 'http://127.0.0.1:' . $t->port . '/ingest';
        my ($status, $out) = run_node(60,
            "$FindBin::Bin/sdk/segment-ingest.mjs", $base, $KEY, "$$");
        is($status, 0, 'both SDKs sent everything without an error')
            or diag(explain($out));
        ref $out eq 'HASH' or return;

        for my $sdk (qw(segment rudderstack)) {
            my @reqs = @{$out->{$sdk}};
            ok(@reqs >= 1, "$sdk: requests made");
            for my $r (@reqs) {
                is($r->{status}, 200, "$sdk: $r->{path} answered 200");
                is($r->{path}, '/ingest/v1/batch', "$sdk: to v1/batch");
                is($r->{authorization}, basic($KEY), "$sdk: Basic key:");
            }
        }
        is($out->{rudderstack}[0]{content_encoding}, 'gzip',
           'rudder-sdk-node sent gzip');

        my @sent = map { my $s = $_; map { [$s, $_] }
                         map { @{$_->{payload}{batch}} } @{$out->{$s}} }
                   qw(segment rudderstack);
        is(scalar @sent, 14, 'seven messages from each SDK');

        my $events = $ph->wait_events(14, 15);
        is(scalar @$events, 14, 'fourteen PostHog events');
        check_sdk_events(\@sent, $events);
    };
}

my $log = $t->error_log;
unlike($log, qr/\Q$KEY\E/, 'the write key is never logged');
like($log, qr/request rejected with 401 \(write_key\)/,
     '401s are logged with their reason');

$t->done;
done_testing;


sub basic { 'Basic ' . encode_base64("$_[0]:", '') }

sub post {
    my ($path, $body, %h) = @_;
    my %headers = ('Content-Type' => 'application/json', %h);
    return $t->request(method => 'POST', path => $path, headers => \%headers,
                       body => ref $body ? encode_json($body) : $body);
}

# a track message with fresh ids; undef values remove a member
sub msg {
    my (%m) = @_;
    $n++;
    my %msg = (type => 'track', event => "ingest $n",
               anonymousId => "anon-$n", messageId => "msg-$$-$n",
               timestamp => '2024-05-06T07:08:09.010Z', %m);
    delete $msg{$_} for grep { !defined $msg{$_} } keys %msg;
    return \%msg;
}

sub records_since {
    my ($from) = @_;
    my $all = $t->events;
    return [ @$all[$from .. $#$all] ];
}

# every SDK message is one PostHog event, mapped as docs/mappings.md says
sub check_sdk_events {
    my ($sent, $events) = @_;

    my %by_user;
    for my $e (@$events) {
        push @{$by_user{$e->{distinct_id}}}, $e;
    }

    my %ev = (identify => '$identify', page => '$pageview',
              screen => '$screen', group => '$groupidentify',
              alias => '$create_alias');

    for my $s (@$sent) {
        my ($sdk, $m) = @$s;
        my $what = "$sdk $m->{type}";
        my $id = $m->{userId} // $m->{anonymousId};
        my $name = $ev{$m->{type}} // $m->{event};
        my ($e) = grep { $_->{event} eq $name } @{$by_user{$id} // []};
        ok($e, "$what: one event for it") or next;

        is($e->{_api_key}, $TOKEN, "$what: the write key's token");
        like($e->{uuid}, $UUID_RE, "$what: a uuid");
        if ($m->{messageId} =~ $UUID_RE) {
            is($e->{uuid}, lc $m->{messageId}, "$what: uuid = messageId");
        }
        like($e->{timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
             "$what: a timestamp");

        my $p = $e->{properties};
        is($p->{'$lib'}, $m->{context}{library}{name},
           "$what: \$lib from context.library");

        if ($m->{context}{ip}) {
            is($p->{'$ip'}, $m->{context}{ip}, "$what: \$ip from context.ip");
            is($p->{'$raw_user_agent'}, $m->{context}{userAgent},
               "$what: \$raw_user_agent");
            is($p->{'$current_url'},
               $m->{properties}{url} // $m->{context}{page}{url},
               "$what: \$current_url");
            is($p->{utm_source}, 'newsletter', "$what: utm_source");
        } else {
            is($p->{'$ip'}, '127.0.0.1', "$what: \$ip from the connection");
        }

        if ($m->{type} eq 'track') {
            is_deeply({ map { $_ => $p->{$_} } keys %{$m->{properties}} },
                      $m->{properties}, "$what: properties");
        } elsif ($m->{type} eq 'identify') {
            is_deeply($p->{'$set'}, $m->{traits}, "$what: \$set = traits");
            is($p->{'$anon_distinct_id'}, $m->{anonymousId},
               "$what: \$anon_distinct_id");
        } elsif ($m->{type} eq 'page') {
            is($p->{'$pathname'}, '/pricing', "$what: \$pathname");
            is($p->{title}, 'Pricing', "$what: title");
            is($p->{variant}, 'b', "$what: custom properties");
        } elsif ($m->{type} eq 'screen') {
            is($p->{'$screen_name'}, 'Home', "$what: \$screen_name");
            is($p->{tab}, 'feed', "$what: properties");
        } elsif ($m->{type} eq 'group') {
            is($p->{'$group_key'}, $m->{groupId}, "$what: \$group_key");
            is($p->{'$group_type'}, 'company', "$what: \$group_type");
            is($p->{'$group_set'}{employees}, 42, "$what: \$group_set");
        } elsif ($m->{type} eq 'alias') {
            is($p->{alias}, $m->{previousId}, "$what: alias = previousId");
        }
    }
}
