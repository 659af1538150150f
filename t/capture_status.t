#!/usr/bin/perl
# capture_status: the counters of two workers in shared memory, exactly
# what was sent (requests by endpoint and status, events accepted,
# rejections by reason, delivery to a stand-in PostHog: delivered,
# retried, refused, the last error, batch sizes and latencies), kept
# across a reload; the JSON shape, and the Prometheus text format with
# the same values.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json urlencode);
use StandIn;

use JSON::PP ();
use Time::HiRes qw(sleep time);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $TOKEN = 'phc_status';
my $PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
my $PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,'
    . 'application/openmetrics-text;version=0.0.1;q=0.75,'
    . 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

my @ENDPOINTS = qw(events engage recordings segment other);
my @STATUSES = qw(200 204 400 401 405 413 503 other);
my @REASONS = qw(empty_payload decode parse no_events event_name
    distinct_id uuid timestamp snapshot cookieless_mode no_token
    token_mismatch token_invalid token_not_allowed write_key body_too_large
    event_too_large no_memory unavailable);
my @DEST_KEYS = qw(queued_events queued_bytes in_flight delivered retried
    refused overflow lost rejected_requests);
my %PROM_NAME = (
    queued_events     => 'capture_destination_queued_events',
    queued_bytes      => 'capture_destination_queued_bytes',
    in_flight         => 'capture_destination_in_flight_requests',
    delivered         => 'capture_destination_delivered_events_total',
    retried           => 'capture_destination_retried_events_total',
    refused           => 'capture_destination_refused_events_total',
    overflow          => 'capture_destination_overflow_events_total',
    lost              => 'capture_destination_lost_events_total',
    rejected_requests => 'capture_destination_rejected_requests_total',
);
my @SIZE_LE = qw(1 5 10 25 50 100 250 500 1000 +Inf);
my @LATENCY_LE = qw(5 10 25 50 100 250 500 1000 2500 5000 10000 30000 +Inf);

my $t = CaptureTest->new;
my $s = StandIn->new(dir => $t->dir);

my $conf = <<'EOF';
capture_destination local { type file; path %%DIR%%/events.jsonl; }

capture_destination ph {
    type posthog;
    url %%URL%%;
    batch_size 5;
    flush_interval 200ms;
    retry_delay 100ms;
    retry_max_delay 200ms;
}

server {
    listen 127.0.0.1:%%PORT%%;

    location /ingest/ {
        capture local ph;
        capture_max_decoded_size 4k;
    }

    location = /status {
        capture_status;
        add_header X-Worker $pid;
    }
}
EOF
my $url = $s->url;
$conf =~ s/%%URL%%/$url/g;
$t->write_conf($conf, workers => 2);
$t->start;

my $JSON = JSON::PP->new->utf8->canonical;


sub ev {
    my (%o) = @_;
    my $props = delete $o{props} // {};
    return { event => 'status test', distinct_id => 'user-1',
        properties => { token => $TOKEN, %$props }, %o };
}

sub post {
    my ($path, $data, %r) = @_;
    return $t->request(method => 'POST', path => $path,
        body => ref $data ? encode_json($data) : $data,
        headers => { 'Content-Type' => 'application/json' }, %r);
}

# GET /status as JSON: the decoded document (and the worker's pid)
sub status {
    my (%r) = @_;
    my $res = $t->request(path => '/status', %r);
    is($res->{status}, 200, 'status: 200') or diag explain $res;
    my $j = eval { $JSON->decode($res->{body}) };
    ok($j, 'status: JSON') or diag "$@\n$res->{body}";
    return wantarray ? ($j, $res->{headers}{'x-worker'}) : $j;
}

# quietly, for polling
sub peek {
    my $res = $t->request(path => '/status');
    my $j = $res->{status} == 200 ? eval { $JSON->decode($res->{body}) }
                                  : undef;
    return ($j, $res->{headers}{'x-worker'});
}

sub wait_status {
    my ($name, $cond, $secs) = @_;
    my $deadline = time + ($secs // 10);
    my $j;
    while (time < $deadline) {
        ($j) = peek();
        return $j if $j && $cond->($j);
        sleep 0.05;
    }
    fail("$name: within the time") or diag explain $j;
    return $j;
}

sub answered_2xx {
    return scalar grep { ($_->{status} // 0) =~ /^2\d\d$/ } @{$s->requests};
}

sub histogram_ok {
    my ($name, $h, $le) = @_;
    is_deeply([sort keys %{$h->{buckets}}], [sort @$le],
        "$name: the buckets");
    my @v = map { $h->{buckets}{$_} } @$le;
    ok(!grep({ $v[$_] < $v[$_ - 1] } 1 .. $#v), "$name: cumulative");
    is($v[-1], $h->{count}, "$name: +Inf is the count");
}


# --- the JSON shape, before anything ---

{
    my $j = status();
    my $res = $t->request(path => '/status');
    is($res->{headers}{'content-type'}, 'application/json',
        'JSON by default: application/json');
    like($j->{version}, qr/^\d+\.\d+\.\d+$/, 'version');
    is_deeply([sort keys %$j], [qw(destinations events requests version)],
        'top-level keys');
    is_deeply([sort keys %{$j->{requests}}], [qw(by_endpoint by_status total)],
        'requests keys');
    is_deeply([sort keys %{$j->{requests}{by_endpoint}}], [sort @ENDPOINTS],
        'by_endpoint keys');
    is_deeply([sort keys %{$j->{requests}{by_status}}], [sort @STATUSES],
        'by_status keys');
    is_deeply([sort keys %{$j->{events}}], [qw(accepted rejected_requests)],
        'events keys');
    is_deeply([sort keys %{$j->{events}{rejected_requests}}], [sort @REASONS],
        'one counter per reason');
    is_deeply([sort keys %{$j->{destinations}}], [qw(local ph)],
        'the destinations');
    is_deeply([sort keys %{$j->{destinations}{ph}}],
        [sort(@DEST_KEYS, qw(last_error batch_size latency_ms))],
        'destination keys');
    is($j->{destinations}{ph}{last_error}, undef, 'no last_error yet');
    is_deeply([sort keys %{$j->{destinations}{ph}{batch_size}}],
        [qw(buckets count sum)], 'histogram keys');
    histogram_ok('batch_size', $j->{destinations}{ph}{batch_size}, \@SIZE_LE);
    histogram_ok('latency_ms', $j->{destinations}{ph}{latency_ms},
        \@LATENCY_LE);
    is($j->{requests}{total}, 0, 'nothing counted yet');
}


# --- a known mix ---

my %res;

$res{single} = post('/ingest/e/', ev());
$res{beacon} = post('/ingest/e/?beacon=1', ev());
$res{batch} = post('/ingest/batch/',
    { api_key => $TOKEN, batch => [ map { ev() } 1 .. 7 ] });
$res{engage} = post('/ingest/engage/', ev(event => '$identify'));
$res{recording} = post('/ingest/s/', [ { event => '$snapshot',
    distinct_id => 'user-1', properties => { token => $TOKEN,
        '$session_id' => 'session-1',
        '$snapshot_data' => [ { type => 2, data => {} } ] } } ]);
$res{get} = $t->request(path => '/ingest/e/?data='
    . urlencode(encode_json(ev())));

status();    # not counted

$res{parse} = post('/ingest/e/', '{"event": "x", "distinct_id": ');
$res{distinct_id} = post('/ingest/e/',
    { event => 'x', properties => { token => $TOKEN } });
$res{no_token} = post('/ingest/e/',
    { event => 'x', distinct_id => 'user-1', properties => {} });
$res{too_large} = post('/ingest/e/', ev(props => { pad => 'x' x 5000 }));
$res{options} = $t->request(method => 'OPTIONS', path => '/ingest/e/',
    headers => { Origin => 'https://www.example.com',
        'Access-Control-Request-Method' => 'POST' });
$res{put} = $t->request(method => 'PUT', path => '/ingest/e/', body => '{}');
$res{flags} = post('/ingest/flags/', {});    # not a capture path

my %want_status = (single => 200, beacon => 204, batch => 200, engage => 200,
    recording => 200, get => 200, parse => 400, distinct_id => 400,
    no_token => 401, too_large => 413, options => 200, put => 405,
    flags => 404);
for my $k (sort keys %want_status) {
    is($res{$k}{status}, $want_status{$k}, "$k: $want_status{$k}")
        or diag explain $res{$k};
}

my $accepted = 1 + 1 + 7 + 1 + 1 + 1;

my %want_requests = (
    total => 12,
    by_endpoint => { events => 10, engage => 1, recordings => 1, segment => 0,
        other => 0 },
    by_status => { 200 => 6, 204 => 1, 400 => 2, 401 => 1, 405 => 1,
        413 => 1, 503 => 0, other => 0 },
);
my %want_rejected = map { $_ => 0 } @REASONS;
$want_rejected{$_} = 1 for qw(parse distinct_id no_token body_too_large);

$s->wait_events($accepted, 15);

my $j = wait_status('all delivered', sub {
    my $ph = $_[0]{destinations}{ph};
    $ph->{delivered} == $accepted && $ph->{queued_events} == 0
        && $ph->{in_flight} == 0;
});

is_deeply($j->{requests}, \%want_requests,
    'requests by endpoint and status, the 404 and /status not counted')
    or diag explain $j->{requests};
is($j->{events}{accepted}, $accepted, "events accepted: $accepted");
is_deeply($j->{events}{rejected_requests}, \%want_rejected,
    'rejected requests by reason') or diag explain $j->{events};

{
    my $ph = $j->{destinations}{ph};
    my $batches = answered_2xx();
    is($ph->{delivered}, scalar @{$s->events},
        'ph: delivered = events the stand-in received');
    is(scalar @{$t->events}, $accepted, 'the file has them all');
    is($ph->{queued_events}, 0, 'ph: queued_events back to 0');
    is($ph->{queued_bytes}, 0, 'ph: queued_bytes back to 0');
    is($ph->{in_flight}, 0, 'ph: in_flight 0');
    ok($batches >= 3, "ph: $batches requests (batch_size 5)");
    is($ph->{batch_size}{count}, $batches,
        'ph: batch_size count = requests answered 2xx');
    is($ph->{latency_ms}{count}, $batches, 'ph: latency count the same');
    is($ph->{batch_size}{sum}, $accepted, 'ph: batch_size sum = events');
    ok($ph->{batch_size}{buckets}{5} == $batches,
        'ph: no batch over 5 events');
    histogram_ok('ph batch_size', $ph->{batch_size}, \@SIZE_LE);
    histogram_ok('ph latency_ms', $ph->{latency_ms}, \@LATENCY_LE);
    ok($ph->{latency_ms}{sum} < $batches * 5000, 'ph: latency sum sane');
    is($ph->{$_}, 0, "ph: $_ 0") for qw(retried refused overflow lost
        rejected_requests);
    is($ph->{last_error}, undef, 'ph: last_error null');

    my $local = $j->{destinations}{local};
    is($local->{$_}, 0, "local: $_ 0") for @DEST_KEYS;
    is($local->{batch_size}{count}, 0, 'local: no batches');
}


# --- failures: retried, then refused ---

my $delivered = $accepted;
{
    my $before = @{$s->requests};
    my $t0 = time;
    $s->mode('status', code => 500, count => 2);
    is(post('/ingest/e/', ev())->{status}, 200, 'one more event');
    $accepted++;
    $delivered++;
    $want_requests{total}++;
    $want_requests{by_endpoint}{events}++;
    $want_requests{by_status}{200}++;

    $s->wait_requests($before + 3, 15);
    $j = wait_status('delivered after two 500s', sub {
        $_[0]{destinations}{ph}{delivered} == $delivered
            && $_[0]{destinations}{ph}{in_flight} == 0;
    });

    my $ph = $j->{destinations}{ph};
    is($ph->{retried}, 2, 'ph: retried 2 (one event, two attempts)');
    like($ph->{last_error}{text} // '', qr/500/, 'ph: last_error says 500')
        or diag explain $ph->{last_error};
    ok(($ph->{last_error}{time} // 0) >= int($t0) - 1
        && $ph->{last_error}{time} <= time + 1, 'ph: last_error time');
    is($ph->{batch_size}{count}, answered_2xx(), 'ph: batches counted');
    is($ph->{refused}, 0, 'ph: nothing refused yet');
}

{
    my $t0 = time;
    $s->mode('status', code => 400, count => 1);
    is(post('/ingest/batch/', { api_key => $TOKEN, batch => [ ev(), ev() ] })
        ->{status}, 200, 'two more events');
    $accepted += 2;
    $want_requests{total}++;
    $want_requests{by_endpoint}{events}++;
    $want_requests{by_status}{200}++;

    $j = wait_status('refused', sub {
        $_[0]{destinations}{ph}{refused} == 2
            && $_[0]{destinations}{ph}{queued_events} == 0;
    });

    my $ph = $j->{destinations}{ph};
    is($ph->{refused}, 2, 'ph: refused 2');
    like($ph->{last_error}{text} // '', qr/400/, 'ph: last_error says 400');
    ok(($ph->{last_error}{time} // 0) >= int($t0) - 1,
        'ph: last_error time');
    is($ph->{delivered}, $delivered, 'ph: delivered unchanged');
    is($ph->{delivered}, scalar @{$s->events}, 'ph: = the stand-in\'s');
    is($ph->{retried}, 2, 'ph: retried unchanged');
    is_deeply($j->{requests}, \%want_requests, 'requests');
    is($j->{events}{accepted}, $accepted, 'events accepted');
}


# --- Prometheus ---

# parses the text format; every line checked
sub parse_prom {
    my ($text) = @_;
    my (%help, %type, %seen, @samples, @bad);
    my $label = qr/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"/;
    my $last_family = '';

    push @bad, 'no final newline' unless $text =~ /\n\z/;

    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S.*)$/) {
            push @bad, "second HELP: $line" if $help{$1}++;
            next;
        }
        if ($line =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/) {
            push @bad, "second TYPE: $line" if exists $type{$1};
            $type{$1} = $2;
            next;
        }
        if ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{($label(?:,$label)*)?\})? (-?\d+(?:\.\d+)?)$/) {
            my ($name, $ls, $value) = ($1, $2 // '', $3);
            my %l;
            while ($ls =~ /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g) {
                my ($k, $v) = ($1, $2);
                $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
                $l{$k} = $v;
            }
            my $family = $name;
            $family = $1 if $name =~ /^(.*)_(?:bucket|sum|count)$/
                && ($type{$1} // '') eq 'histogram';
            push @bad, "no TYPE before: $line" unless $type{$family};
            push @bad, "no HELP before: $line" unless $help{$family};
            push @bad, "not with its family: $line"
                if $family ne $last_family && $seen{$family};
            $seen{$family} = 1;
            $last_family = $family;
            push @samples, { name => $name, labels => \%l, value => $value,
                family => $family };
            next;
        }
        push @bad, "bad line: $line";
    }

    push @bad, "TYPE without HELP: $_" for grep { !$help{$_} } keys %type;

    return { type => \%type, samples => \@samples, bad => \@bad };
}

# the value of one sample: name and all its labels
sub sample {
    my ($p, $name, %l) = @_;
    my @m = grep {
        my $x = $_;
        $x->{name} eq $name && keys %{$x->{labels}} == keys %l
            && !grep { ($x->{labels}{$_} // "\0") ne $l{$_} } keys %l
    } @{$p->{samples}};
    return @m == 1 ? $m[0]{value} : undef;
}

sub check_prom {
    my ($what, $res, $j) = @_;

    is($res->{status}, 200, "$what: 200");
    is($res->{headers}{'content-type'}, $PROM_TYPE, "$what: Content-Type");

    my $p = parse_prom($res->{body});
    ok(!@{$p->{bad}}, "$what: every line is HELP, TYPE or a sample")
        or diag join "\n", @{$p->{bad}};

    my %type = %{$p->{type}};
    is($type{capture_requests_total}, 'counter', "$what: requests counter");
    is($type{capture_destination_queued_events}, 'gauge', "$what: gauge");
    is($type{capture_destination_batch_size_events}, 'histogram',
        "$what: histogram");
    is($type{capture_destination_delivery_latency_seconds}, 'histogram',
        "$what: latency histogram");

    # histograms: cumulative buckets ending in +Inf = _count, and _sum
    for my $family (grep { $type{$_} eq 'histogram' } sort keys %type) {
        my %by;
        for my $x (grep { $_->{name} eq "${family}_bucket" }
                   @{$p->{samples}})
        {
            push @{$by{$x->{labels}{destination}}}, $x;
        }
        for my $d (sort keys %by) {
            my @b = @{$by{$d}};
            my @le = map { $_->{labels}{le} } @b;
            is($le[-1], '+Inf', "$what: $family $d: +Inf last");
            my @n = map { $_ eq '+Inf' ? 9**9**9 : $_ } @le;
            ok(!grep({ $n[$_] <= $n[$_ - 1] } 1 .. $#n),
                "$what: $family $d: le ascending");
            ok(!grep({ $b[$_]{value} < $b[$_ - 1]{value} } 1 .. $#b),
                "$what: $family $d: cumulative");
            is($b[-1]{value}, sample($p, "${family}_count", destination => $d),
                "$what: $family $d: +Inf = _count");
            ok(defined sample($p, "${family}_sum", destination => $d),
                "$what: $family $d: _sum");
        }
    }

    # the same values as the JSON

    my ($total, %by_e, %by_s) = (0);
    for my $x (grep { $_->{name} eq 'capture_requests_total' }
               @{$p->{samples}})
    {
        $total += $x->{value};
        $by_e{$x->{labels}{endpoint}} += $x->{value};
        $by_s{$x->{labels}{status}} += $x->{value};
    }
    is($total, $j->{requests}{total}, "$what: requests total");
    is_deeply(\%by_e, $j->{requests}{by_endpoint}, "$what: by endpoint");
    is_deeply(\%by_s, $j->{requests}{by_status}, "$what: by status");
    is(sample($p, 'capture_events_accepted_total'), $j->{events}{accepted},
        "$what: events accepted");
    is_deeply({ map { $_->{labels}{reason} => $_->{value} }
                grep { $_->{name} eq 'capture_requests_rejected_total' }
                @{$p->{samples}} },
              $j->{events}{rejected_requests}, "$what: rejected by reason");
    like(sample($p, 'capture_info', version => $j->{version}) // '', qr/^1$/,
        "$what: capture_info");

    my %dests = map { $_->{labels}{destination} => 1 }
        grep { $_->{name} eq 'capture_destination_delivered_events_total' }
        @{$p->{samples}};
    is_deeply([sort keys %dests], [sort keys %{$j->{destinations}}],
        "$what: the destinations");

    for my $d (sort keys %{$j->{destinations}}) {
        my $jd = $j->{destinations}{$d};
        for my $k (@DEST_KEYS) {
            is(sample($p, $PROM_NAME{$k}, destination => $d), $jd->{$k},
                "$what: $d $k");
        }
        is(sample($p, 'capture_destination_last_error_timestamp_seconds',
                  destination => $d),
           $jd->{last_error} ? $jd->{last_error}{time} : undef,
           "$what: $d last error time");

        my $f = 'capture_destination_batch_size_events';
        is_deeply({ map { $_ => sample($p, "${f}_bucket", destination => $d,
                                       le => $_) } @SIZE_LE },
                  $jd->{batch_size}{buckets}, "$what: $d batch_size buckets");
        is(sample($p, "${f}_sum", destination => $d), $jd->{batch_size}{sum},
            "$what: $d batch_size sum");
        is(sample($p, "${f}_count", destination => $d),
            $jd->{batch_size}{count}, "$what: $d batch_size count");

        $f = 'capture_destination_delivery_latency_seconds';
        my %lat;
        for my $x (grep { $_->{name} eq "${f}_bucket"
                          && $_->{labels}{destination} eq $d }
                   @{$p->{samples}})
        {
            my $le = $x->{labels}{le};
            $lat{$le eq '+Inf' ? $le : sprintf('%.0f', $le * 1000)}
                = $x->{value};
        }
        is_deeply(\%lat, $jd->{latency_ms}{buckets},
            "$what: $d latency buckets (seconds = ms / 1000)");
        is(sprintf('%.0f', (sample($p, "${f}_sum", destination => $d) // -1)
                   * 1000),
           $jd->{latency_ms}{sum}, "$what: $d latency sum");
        is(sample($p, "${f}_count", destination => $d),
            $jd->{latency_ms}{count}, "$what: $d latency count");
    }
}

{
    my $j = status();

    check_prom('?format=prometheus',
        $t->request(path => '/status?format=prometheus'), $j);
    check_prom('Accept: text/plain; version=0.0.4',
        $t->request(path => '/status',
            headers => { Accept => 'text/plain; version=0.0.4' }), $j);
    check_prom("Prometheus' Accept",
        $t->request(path => '/status',
            headers => { Accept => $PROMETHEUS_ACCEPT }), $j);

    for my $case (
        [ 'Accept: application/json', '/status',
          { Accept => 'application/json' } ],
        [ 'Accept: text/plain', '/status', { Accept => 'text/plain' } ],
        [ '?format=json over a Prometheus Accept', '/status?format=json',
          { Accept => $PROMETHEUS_ACCEPT } ])
    {
        my ($what, $path, $h) = @$case;
        my $res = $t->request(path => $path, headers => $h);
        is($res->{headers}{'content-type'}, 'application/json',
            "$what: JSON");
        is_deeply(eval { $JSON->decode($res->{body}) }, $j,
            "$what: the same document");
    }

    my $res = $t->request(path => '/status?format=xml');
    is($res->{status}, 400, '?format=xml: 400');

    $res = $t->request(method => 'HEAD', path => '/status');
    is($res->{status}, 200, 'HEAD: 200');
    is($res->{body}, '', 'HEAD: no body');
    ok(($res->{headers}{'content-length'} // 0) > 0, 'HEAD: Content-Length');

    for my $m (qw(POST PUT DELETE)) {
        $res = $t->request(method => $m, path => '/status', body => '{}');
        is($res->{status}, 405, "$m /status: 405");
        is($res->{headers}{allow}, 'GET, HEAD', "$m /status: Allow");
    }

    is_deeply(scalar status(), $j, 'the status requests were not counted');
}


# --- reload: counters kept, destinations matched by name ---

sub workers {
    my $master = $t->pid;
    my @w;
    for my $d (glob '/proc/[0-9]*') {
        open my $fh, '<', "$d/stat" or next;
        my $st = <$fh> // '';
        close $fh;
        push @w, $1 if $st =~ /^(\d+) \(.*\) \S+ (\d+)/s && $2 == $master;
    }
    return @w;
}

{
    my $before = status();
    my %old = map { $_ => 1 } workers();
    is(scalar keys %old, 2, 'two workers');

    # ph first now (another index), local replaced by local2
    my $new = $conf;
    $new =~ s/capture_destination local \{ type file; path %%DIR%%\/events.jsonl; \}\n//;
    $new =~ s/(server \{)/capture_destination local2 { type file; path %%DIR%%\/events2.jsonl; }\n\n$1/;
    $new =~ s/capture local ph;/capture ph local2;/;
    $t->write_conf($new, workers => 2);
    $t->signal('HUP', 1);

    my ($j, $pid);
    my $deadline = time + 15;
    while (time < $deadline) {
        ($j, $pid) = peek();
        last if $j && $pid && !$old{$pid} && !grep { $old{$_} } workers();
        sleep 0.1;
    }
    ok($pid && !$old{$pid}, 'answered by a new worker')
        or diag "old: @{[sort keys %old]}, now: @{[workers()]}";

    is_deeply($j->{requests}, $before->{requests}, 'requests kept');
    is_deeply($j->{events}, $before->{events}, 'events kept');
    is_deeply([sort keys %{$j->{destinations}}], [qw(local2 ph)],
        'the destinations of the new configuration');
    is_deeply($j->{destinations}{ph}, $before->{destinations}{ph},
        'ph: kept, found by name');
    my $l2 = $j->{destinations}{local2};
    is($l2->{$_}, 0, "local2: $_ fresh") for @DEST_KEYS;
    is($l2->{last_error}, undef, 'local2: no last error');
    is($l2->{batch_size}{count}, 0, 'local2: no batches');

    is(post('/ingest/e/', ev())->{status}, 200, 'an event after the reload');
    $delivered++;
    $accepted++;
    $want_requests{total}++;
    $want_requests{by_endpoint}{events}++;
    $want_requests{by_status}{200}++;

    $j = wait_status('delivered after the reload', sub {
        $_[0]{destinations}{ph}{delivered} == $delivered
            && $_[0]{destinations}{ph}{in_flight} == 0;
    });
    is_deeply($j->{requests}, \%want_requests, 'requests counted on');
    is($j->{events}{accepted}, $accepted, 'events counted on');
    is($j->{destinations}{ph}{delivered}, scalar @{$s->events},
        'ph: delivered = the stand-in\'s');
    is($j->{destinations}{ph}{batch_size}{count}, answered_2xx(),
        'ph: batches counted on');
    is(scalar @{$t->events('events2.jsonl')}, 1, 'local2 has the event');

    check_prom('after the reload',
        $t->request(path => '/status?format=prometheus'), $j);
}

$t->done;
$s->stop;


# --- the directive ---

for my $case ([ 'twice', "capture_status;\n        capture_status;",
                qr/"capture_status" directive is duplicate/ ],
              [ 'with an argument', 'capture_status on;',
                qr/invalid number of arguments in "capture_status"/ ])
{
    my ($what, $text, $re) = @$case;
    my $c = CaptureTest->new;
    $c->write_conf(<<"EOF");
server {
    listen 127.0.0.1:%%PORT%%;

    location = /status {
        $text
    }
}
EOF
    my ($ok, $out) = $c->conf_test;
    ok(!$ok, "capture_status $what: the configuration is refused");
    like($out, $re, "capture_status $what: the message");
}

done_testing;
