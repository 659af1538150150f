#!/usr/bin/perl
# What the module puts into each record: $ip per capture_ip (on, off, force,
# anonymize), capture_property, the event time rules, distinct_id, token,
# $set/$set_once folding, uuid, and the dropped $performance_event.

use strict;
use warnings;
use Test::More;
use Time::HiRes ();

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json iso_ms ms_iso);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

my $t = CaptureTest->new;
$t->write_conf(<<'EOF');
capture_destination local { type file; path %%DIR%%/events.jsonl; }

server {
    listen 127.0.0.1:%%PORT%%;

    # X-Real-IP from the test client sets the client address
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;

    location /on/ {
        capture local;
    }

    location /explicit-on/ {
        capture local;
        capture_ip on;
    }

    location /off/ {
        capture local;
        capture_ip off;
    }

    location /force/ {
        capture local;
        capture_ip force;
    }

    location /anon/ {
        capture local;
        capture_ip anonymize;
    }

    location /prop/ {
        capture local;
        capture_property country $arg_country;
        capture_property plan $http_x_plan;
        capture_property site "docs $arg_site";
    }
}
EOF
$t->start;

my $seen = 0;

# sends $data (a reference or JSON text), expects 200 and returns the
# records written by this request
sub send_events {
    my ($path, $data, %r) = @_;
    my $r = $t->request(method => 'POST', path => $path,
        body => ref $data ? encode_json($data) : $data,
        headers => { 'Content-Type' => 'application/json',
            %{ $r{headers} // {} } });
    is($r->{status}, 200, "POST $path: 200") or diag explain $r;
    my $all = $t->events('events.jsonl');
    my @new = @$all[$seen .. $#$all];
    $seen = @$all;
    return \@new;
}

sub one {
    my ($path, $ev, %r) = @_;
    my $new = send_events($path, $ev, %r);
    is(scalar @$new, 1, "POST $path: one record") or diag explain $new;
    return $new->[0] // {};
}

sub ev {
    my (%e) = @_;
    return { event => 'enrich', distinct_id => 'u1',
        properties => { token => 'phc_abc' }, %e };
}

sub evp {
    my (%p) = @_;
    return ev(properties => { token => 'phc_abc', %p });
}

my $v6 = '2001:db8:1234:5678:9abc:def0:1234:5678';

# --- $ip ---

is(one('/on/e/', ev())->{properties}{'$ip'}, '127.0.0.1',
    'on (default): client address');
is(one('/explicit-on/e/', ev())->{properties}{'$ip'}, '127.0.0.1',
    'on: client address');
is(one('/on/e/', evp('$ip' => '198.51.100.23'))->{properties}{'$ip'},
    '198.51.100.23', 'on: the event\'s $ip is kept');
is(one('/on/e/', ev(), headers => { 'X-Real-IP' => '203.0.113.77' })
    ->{properties}{'$ip'}, '203.0.113.77', 'on: realip address');
is(one('/on/e/', ev(), headers => { 'X-Real-IP' => $v6 })
    ->{properties}{'$ip'}, $v6, 'on: IPv6 client address');
is(one('/on/e/', ev(), headers => { 'X-Forwarded-For' => '9.9.9.9' })
    ->{properties}{'$ip'}, '127.0.0.1',
    'on: X-Forwarded-For is not trusted by itself');

{
    my $new = send_events('/on/batch/', { api_key => 'phc_abc',
        batch => [ ev(), evp('$ip' => '198.51.100.1'), ev() ] },
        headers => { 'X-Real-IP' => '203.0.113.5' });
    is_deeply([ map { $_->{properties}{'$ip'} } @$new ],
        [ '203.0.113.5', '198.51.100.1', '203.0.113.5' ],
        'on: each event of a batch');
}

{
    my $rec = one('/off/e/', ev());
    ok(!exists $rec->{properties}{'$ip'}, 'off: no $ip')
        or diag explain $rec;
    is(one('/off/e/', evp('$ip' => '198.51.100.23'))->{properties}{'$ip'},
        '198.51.100.23', 'off: the event\'s $ip is left alone');
}

is(one('/force/e/', evp('$ip' => '198.51.100.23'))->{properties}{'$ip'},
    '127.0.0.1', 'force: overwrites the event\'s $ip');
is(one('/force/e/', ev(), headers => { 'X-Real-IP' => '203.0.113.9' })
    ->{properties}{'$ip'}, '203.0.113.9', 'force: client address');

is(one('/anon/e/', ev())->{properties}{'$ip'}, '127.0.0.0',
    'anonymize: IPv4 client address, last octet 0');
is(one('/anon/e/', ev(), headers => { 'X-Real-IP' => '203.0.113.77' })
    ->{properties}{'$ip'}, '203.0.113.0', 'anonymize: realip IPv4');
is(one('/anon/e/', evp('$ip' => '198.51.100.23'))->{properties}{'$ip'},
    '198.51.100.0', 'anonymize: the event\'s IPv4 $ip too');
is(one('/anon/e/', ev(), headers => { 'X-Real-IP' => $v6 })
    ->{properties}{'$ip'}, '2001:db8:1234::',
    'anonymize: IPv6 client address, last 80 bits zero');
is(one('/anon/e/', evp('$ip' => '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'))
    ->{properties}{'$ip'}, '2001:db8:aaaa::',
    'anonymize: the event\'s IPv6 $ip too');

# --- capture_property ---

{
    my $p = one('/prop/e/?country=DE&site=a', ev(),
        headers => { 'X-Plan' => 'pro' })->{properties};
    is($p->{country}, 'DE', 'capture_property from $arg_country');
    is($p->{plan}, 'pro', 'capture_property from a header');
    is($p->{site}, 'docs a', 'capture_property complex value');

    $p = one('/prop/e/', ev())->{properties};
    ok(!exists $p->{country}, 'empty value: property not set')
        or diag explain $p;
    ok(!exists $p->{plan}, 'missing header: property not set');
    is($p->{site}, 'docs ', 'non-empty complex value set');

    $p = one('/prop/e/?country=', ev())->{properties};
    ok(!exists $p->{country}, 'empty argument: property not set');

    $p = one('/prop/e/?country=DE', evp(country => 'FR'))->{properties};
    is($p->{country}, 'DE', 'capture_property overrides the client value');

    $p = one('/prop/e/', evp(country => 'FR'))->{properties};
    is($p->{country}, 'FR', 'empty value keeps the client value');

    my $new = send_events('/prop/batch/?country=NL', { api_key => 'phc_abc',
        batch => [ ev(), ev(), ev() ] });
    is_deeply([ map { $_->{properties}{country} } @$new ], [ ('NL') x 3 ],
        'capture_property on every event of a batch');
}

# --- time ---

my $iso_re = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

{
    my $t0 = int(Time::HiRes::time() * 1000);
    my $rec = one('/on/e/', ev());
    my $t1 = int(Time::HiRes::time() * 1000);
    like($rec->{now}, $iso_re, 'now format');
    like($rec->{timestamp}, $iso_re, 'timestamp format');
    my $now = iso_ms($rec->{now}) // 0;
    ok($now >= $t0 - 1000 && $now <= $t1 + 1000,
        'now is the receive time') or diag "$rec->{now} not in $t0..$t1";
    is($rec->{timestamp}, $rec->{now}, 'no time fields: timestamp = now');
    ok(exists $rec->{sent_at} && !defined $rec->{sent_at},
        'no sent_at: null') or diag explain $rec;
}

is(one('/on/e/', ev(timestamp => '2020-01-02T03:04:05.678Z'))->{timestamp},
    '2020-01-02T03:04:05.678Z', 'only timestamp: kept');
is(one('/on/e/', ev(timestamp => '2020-01-02T05:04:05.678+02:00'))
    ->{timestamp}, '2020-01-02T03:04:05.678Z', 'timestamp offset: to UTC');
is(one('/on/e/', ev(timestamp => '2020-01-02T03:04:05Z'))->{timestamp},
    '2020-01-02T03:04:05.000Z', 'timestamp without milliseconds');
is(one('/on/e/', ev(timestamp => '2020-01-02T03:04:05.678000+00:00'))
    ->{timestamp}, '2020-01-02T03:04:05.678Z',
    'timestamp with microseconds (Python SDK)');

sub delta {
    my ($rec) = @_;
    my ($ts, $now) = (iso_ms($rec->{timestamp}), iso_ms($rec->{now}));
    return undef unless defined $ts && defined $now;
    return $ts - $now;
}

is(delta(one('/on/e/', ev(offset => 5000))), -5000, 'offset: now - offset');
is(delta(one('/on/e/', ev(offset => 1500,
    timestamp => '2020-01-02T03:04:05.678Z'))), -1500,
    'offset overrides timestamp');

{
    my $rec = one('/on/batch/', { api_key => 'phc_abc',
        sent_at => '2020-01-01T00:00:10.000Z',
        batch => [ ev(timestamp => '2020-01-01T00:00:05.000Z') ] });
    is(delta($rec), -5000, 'timestamp and sent_at: clock-skew corrected');
    is($rec->{sent_at}, '2020-01-01T00:00:10.000Z', 'sent_at recorded');

    $rec = one('/on/batch/', { api_key => 'phc_abc',
        sent_at => '2020-01-01T00:00:10.000Z',
        batch => [ ev(timestamp => '2020-01-01T00:00:05.000Z',
            properties => { '$ignore_sent_at' => JSON::PP::true }) ] });
    is($rec->{timestamp}, '2020-01-01T00:00:05.000Z',
        '$ignore_sent_at: timestamp kept');

    $rec = one('/on/e/?_=1577836810000', ev(timestamp =>
        '2020-01-01T00:00:05.000Z'));
    is(delta($rec), -5000, 'sent_at from query _: clock-skew corrected');
    is($rec->{sent_at}, '2020-01-01T00:00:10.000Z', 'sent_at from query _');

    $rec = one('/on/batch/?_=1577836800000', { api_key => 'phc_abc',
        sent_at => '2020-01-01T00:00:10.000Z',
        batch => [ ev(timestamp => '2020-01-01T00:00:05.000Z') ] });
    is(delta($rec), -5000, 'batch sent_at wins over query _');
}

{
    my $now = int(Time::HiRes::time() * 1000);

    my $rec = one('/on/e/', ev(timestamp => ms_iso($now + 24 * 3600000)));
    is($rec->{timestamp}, $rec->{now}, 'timestamp 24 h ahead: now');

    my $ts22 = ms_iso($now + 22 * 3600000);
    is(one('/on/e/', ev(timestamp => $ts22))->{timestamp}, $ts22,
        'timestamp 22 h ahead: kept');

    $rec = one('/on/e/', ev(offset => -24 * 3600000));
    is($rec->{timestamp}, $rec->{now}, 'negative offset 24 h ahead: now');

    $rec = one('/on/batch/', { api_key => 'phc_abc',
        sent_at => '2020-01-01T00:00:00.000Z',
        batch => [ ev(timestamp => '2020-01-02T00:00:00.000Z') ] });
    is($rec->{timestamp}, $rec->{now}, 'skew-corrected 24 h ahead: now');

    $rec = one('/on/batch/', { api_key => 'phc_abc',
        sent_at => '2020-01-01T00:00:00.000Z',
        batch => [ ev(timestamp => '2020-01-01T22:00:00.000Z') ] });
    is(delta($rec), 22 * 3600000, 'skew-corrected 22 h ahead: kept');
}

# --- distinct_id ---

is(one('/on/e/', ev(distinct_id => 23))->{distinct_id}, '23',
    'distinct_id 23 -> "23"');
is(one('/on/e/', '{"event":"enrich","distinct_id":23.5,"token":"phc_abc"}')
    ->{distinct_id}, '23.5', 'distinct_id 23.5 -> "23.5"');
is(one('/on/e/',
    '{"event":"enrich","distinct_id":9007199254740993,"token":"phc_abc"}')
    ->{distinct_id}, '9007199254740993', 'large integer distinct_id exact');
{
    my $rec = one('/on/e/', ev(distinct_id => 42));
    ok(!ref $rec->{distinct_id}
        && encode_json($rec->{distinct_id}) eq '"42"',
        'distinct_id is a JSON string');
}
is(one('/on/e/', ev(distinct_id => 'x' x 250))->{distinct_id}, 'x' x 200,
    'distinct_id cut to 200 characters');
{
    my $id = ("\x{e9}\x{1F642}" x 150);
    is(one('/on/e/', ev(distinct_id => $id))->{distinct_id},
        substr($id, 0, 200), 'non-ASCII distinct_id cut to 200 characters');
}
is(one('/on/e/', ev(distinct_id => 'y' x 200))->{distinct_id}, 'y' x 200,
    'distinct_id of 200 characters kept');
is(one('/on/e/', '{"event":"enrich","distinct_id":"a\u0000b","token":"phc_abc"}')
    ->{distinct_id}, "a\x{FFFD}b", 'NUL in distinct_id -> U+FFFD');
{
    my %e = %{ ev() };
    delete $e{distinct_id};
    is(one('/on/e/', { %e, '$distinct_id' => 'dollar' })->{distinct_id},
        'dollar', '$distinct_id');
    is(one('/on/e/', { %e, properties => { token => 'phc_abc',
        distinct_id => 'from-props' } })->{distinct_id}, 'from-props',
        'properties.distinct_id');
}

# --- token ---

{
    my $rec = one('/on/batch/', { api_key => 'phc_batch',
        batch => [ ev(token => 'phc_event', properties => {}) ] });
    is($rec->{token}, 'phc_batch', 'batch-level api_key wins');

    is(one('/on/e/', ev(token => 'phc_top',
        properties => { token => 'phc_prop' }))->{token}, 'phc_top',
        'event token wins over properties.token');
    is(one('/on/e/', ev('$token' => 'phc_dollar', properties => {}))->{token},
        'phc_dollar', 'event $token');
    is(one('/on/e/', ev(api_key => 'phc_key', properties => {}))->{token},
        'phc_key', 'event api_key');
    is(one('/on/e/', ev())->{token}, 'phc_abc', 'properties.token');
}

# --- $set / $set_once folding ---

{
    my $rec = one('/on/e/', ev(event => '$identify',
        '$set' => { a => 1, b => 'top' },
        '$set_once' => { first => 'top' },
        properties => { token => 'phc_abc',
            '$set' => { b => 'props', c => 'props' },
            '$set_once' => { first => 'props', other => 'props' } }));
    is_deeply($rec->{properties}{'$set'}, { a => 1, b => 'top', c => 'props' },
        '$set folded, top-level wins');
    is_deeply($rec->{properties}{'$set_once'},
        { first => 'top', other => 'props' }, '$set_once folded, top-level wins');

    $rec = one('/on/e/', ev(event => '$set', '$set' => { only => 'top' }));
    is_deeply($rec->{properties}{'$set'}, { only => 'top' },
        'top-level $set alone');
}

# --- the record ---

{
    my $rec = one('/on/e/', { event => 'bare', distinct_id => 'u1',
        token => 'phc_abc' });
    for my $f (qw(uuid event distinct_id token timestamp now sent_at
        historical_migration properties))
    {
        ok(exists $rec->{$f}, "record has $f");
    }
    is(ref $rec->{properties}, 'HASH', 'properties default to an object');
    is($rec->{event}, 'bare', 'event name');
    ok(JSON::PP::is_bool($rec->{historical_migration})
        && !$rec->{historical_migration}, 'historical_migration false');
}

# --- uuid ---

my $v7_re = qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

is(one('/on/e/', ev(uuid => '0189A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B'))->{uuid},
    '0189a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 'valid uuid kept, lowercased');
is(one('/on/e/', ev(uuid => '6ba7b810-9dad-11d1-80b4-00c04fd430c8'))->{uuid},
    '6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'valid v1 uuid kept');

{
    my $new = send_events('/on/e/', [ ev(), ev(uuid => ''), ev() ]);
    my @u = map { $_->{uuid} } @$new;
    is(scalar(grep { defined && /$v7_re/ } @u), 3,
        'missing or empty uuid: a UUIDv7') or diag explain \@u;
    my %distinct = map { $_ => 1 } grep { defined } @u;
    is(scalar keys %distinct, 3, 'generated uuids differ');
    if (defined $u[0] && $u[0] =~ /$v7_re/) {
        (my $hex = $u[0]) =~ s/-//g;
        my $ms = hex(substr $hex, 0, 8) * 65536 + hex(substr $hex, 8, 4);
        my $now = iso_ms($new->[0]{now}) // 0;
        ok(abs($ms - $now) < 5000, 'UUIDv7 time is the receive time')
            or diag "uuid ms $ms, now $now";
    }
}

# --- $performance_event ---

{
    my $new = send_events('/on/e/', [ ev(event => '$performance_event'),
        ev(event => 'kept'), ev(event => '$performance_event') ]);
    is_deeply([ map { $_->{event} } @$new ], ['kept'],
        '$performance_event dropped, others kept');
    $new = send_events('/on/e/', ev(event => '$performance_event'));
    is(scalar @$new, 0, 'only a $performance_event: 200, nothing written');
}

$t->done;
done_testing;
