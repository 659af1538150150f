#!/usr/bin/perl
# Shape parity with the real SDKs: the messages the module's segment and
# rudderstack destinations send, against those @segment/analytics-node
# and @rudderstack/rudder-sdk-node send for the same user actions.
#
# The same facts (a page view, a product viewed, a sign-in, an order, a
# company, an alias, a screen in the app) are told twice: to the SDKs as
# their calls (t/sdk/segment-sdks.mjs), and to nginx as the events
# posthog-js and posthog-android send (properties as those SDKs name
# them).  Four spec stand-ins (StandIn spec profiles) record the four
# streams; none may break its API's rules.  Then, per message type and
# per SDK, the module's message and the SDK's are compared field by field
# both ways: the same field names, the same JSON types, the same nesting,
# recursively; values are not compared (ids, times, library names).  The
# request bodies around the messages are compared the same way.
#
# The differences that are expected are the short list %ALLOWED (SDK or
# module habits, each with its reason).  Anything else fails, with a
# readable diff.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/sdk";

use B ();
use CaptureTest qw(encode_json ms_iso);
use JSON::PP ();
use SdkCheck qw(sdk_skip_reason run_node);
use StandIn;
use Time::HiRes qw(time);

my $skip = sdk_skip_reason('@segment/analytics-node', '@rudderstack/rudder-sdk-node');
plan skip_all => $skip if $skip;

my %KEY = (segment => 'seg_parity_key', rudderstack => 'rud_parity_key');
my %PATH = (segment => '/v1/batch', rudderstack => '/dp/v1/batch');
my @SDKS = qw(segment rudderstack);
my %SDK_NAME = (segment => '@segment/analytics-node',
                rudderstack => '@rudderstack/rudder-sdk-node');


# --- the expected differences ---

# [types ('*': all), field, the side that has it, why]; a field is a
# dotted path in the message, a qr// matches paths.  The side is the
# only one that sends the field ('sdk' or 'module').
my %ALLOWED = (
    both => [
        ['*', '_metadata', 'sdk', "the SDK's own runtime (nodeVersion, jsRuntime)"],
    ],
    segment => [
        ['*', 'integrations', 'sdk', 'analytics-node always sends {}: all destinations, '
            . 'the meaning of no integrations at all'],
    ],
    rudderstack => [
        ['*', 'channel', 'sdk', 'rudder-sdk-node tags its messages "server"; optional'],
        ['*', 'originalTimestamp', 'sdk', 'rudder-sdk-node stamps the time of the call; the '
            . 'module sends the event time as timestamp, as both SDKs do when given one'],
        ['*', 'sentAt', 'sdk', 'rudder-sdk-node stamps each message; the module, like '
            . "Segment's SDK, sends one sentAt in the body"],
        ['identify', 'context.traits', 'sdk', 'rudder-sdk-node copies the traits there; '
            . 'the top-level traits, which both send, are the spec field'],
    ],
    module => [
        ['group', 'traits.group_type', 'module', "PostHog's group type: Segment has no field "
            . 'for it, and a group key is unique only within its type (docs/mappings.md)'],
        ['track', qr/^properties\.\$/, 'module', "PostHog's own \$ properties that have no "
            . "Segment field stay in a track's properties (docs/mappings.md)"],
        [['page', 'track'], qr/^properties\.utm_[a-z]+$/, 'module', 'posthog-js sends utm_* '
            . 'as event properties: copied into context.campaign, kept as properties too'],
    ],
);

# around the messages: [field of the body, the side that has it, why]
my %ALLOWED_BODY = (
    segment => [
        ['writeKey', 'sdk', 'the key is in the Authorization header already; '
            . 'RudderStack would not even read it'],
    ],
    rudderstack => [
        ['timestamp', 'sdk', 'rudder-sdk-node repeats sentAt as timestamp'],
    ],
);


# --- the facts, and how each side tells them ---

my $now = int(time * 1000);
my $ts = sub { ms_iso($now - $_[0] * 1000) };     # seconds ago

my $anon = '0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b';   # posthog-js's device id
my $user = 'user-42';
my $ua = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 '
       . '(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
my $search = '?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale';
my $url = "https://shop.example/products/42$search";
my $referrer = 'https://news.example/issues/12';
my $title = 'Trail Shoe 42 | Shop';

# what posthog-js sends with every event on that page
sub web_props {
    my ($id, $identified) = @_;
    return {
        token                      => 'phc_parity_token',
        distinct_id                => $id,
        '$os'                      => 'Mac OS X',
        '$os_version'              => '10.15.7',
        '$browser'                 => 'Chrome',
        '$browser_version'         => 126,
        '$device_type'             => 'Desktop',
        '$current_url'             => $url,
        '$host'                    => 'shop.example',
        '$pathname'                => '/products/42',
        '$raw_user_agent'          => $ua,
        '$browser_language'        => 'en-GB',
        '$browser_language_prefix' => 'en',
        '$screen_height'           => 1080,
        '$screen_width'            => 1920,
        '$viewport_height'         => 947,
        '$viewport_width'          => 1680,
        '$lib'                     => 'web',
        '$lib_version'             => '1.200.0',
        '$insert_id'               => 'q1w2e3r4t5y6u7i8',
        '$time'                    => $now / 1000,
        '$device_id'               => $anon,
        '$is_identified'           => $identified ? JSON::PP::true : JSON::PP::false,
        '$session_id'              => '0192a3b4-0000-7000-8000-00000000beef',
        '$window_id'               => '0192a3b4-0000-7000-8000-00000000cafe',
        '$referrer'                => $referrer,
        '$referring_domain'        => 'news.example',
        '$timezone'                => 'Europe/London',
        '$timezone_offset'         => -60,
        utm_source                 => 'newsletter',
        utm_medium                 => 'email',
        utm_campaign               => 'spring-sale',
    };
}

# the same facts as a Segment context (library is the SDK's own)
sub web_context {
    my (%o) = @_;
    return {
        ip        => '203.0.113.7',
        userAgent => $ua,
        locale    => 'en-GB',
        timezone  => 'Europe/London',
        page      => { path => '/products/42', referrer => $referrer, search => $search,
                       url => $url, ($o{title} ? (title => $title) : ()) },
        screen    => { width => 1920, height => 1080 },
        os        => { name => 'Mac OS X', version => '10.15.7' },
        device    => { type => 'Desktop' },
        campaign  => { name => 'spring-sale', source => 'newsletter', medium => 'email' },
    };
}

my $n_uuid = 0;
sub uuid { sprintf '0192a3b4-%04x-7000-8000-%012x', $$ & 0xffff, ++$n_uuid }

my %product = (product_id => 'sku-42', name => 'Trail Shoe 42', price => 89.9,
               currency => 'EUR', in_stock => JSON::PP::true,
               variants => ['red', 'blue'], size => { eu => 42, uk => 8 });
my %order = (order_id => 'o-1001', revenue => 129.5, currency => 'EUR', coupon => undef,
             products => [ { product_id => 'sku-42', quantity => 1, price => 89.9 } ]);
my %traits = (email => 'ada@example.com', name => 'Ada', plan => 'pro');
my %company = (name => 'Acme Inc', employees => 50, plan => 'enterprise');

# case => {sdk: the SDK call, web/mobile: the PostHog event}
my %case = (
    page => {
        sdk => { method => 'page', args => {
            anonymousId => $anon, name => $title,
            properties => { url => $url, path => '/products/42', referrer => $referrer,
                            title => $title, search => $search },
            context => web_context(title => 1), timestamp => $ts->(60) } },
        web => { event => '$pageview', timestamp => $ts->(60),
                 properties => { %{ web_props($anon, 0) }, title => $title } },
    },
    'track:Product Viewed' => {
        sdk => { method => 'track', args => {
            anonymousId => $anon, event => 'Product Viewed', properties => { %product },
            context => web_context(), timestamp => $ts->(50) } },
        web => { event => 'Product Viewed', timestamp => $ts->(50),
                 properties => { %{ web_props($anon, 0) }, %product } },
    },
    identify => {
        sdk => { method => 'identify', args => {
            userId => $user, anonymousId => $anon,
            traits => { %traits, first_seen => '2024-05-01' },
            context => web_context(), timestamp => $ts->(40) } },
        web => { event => '$identify', timestamp => $ts->(40),
                 properties => { %{ web_props($user, 1) }, '$anon_distinct_id' => $anon },
                 '$set' => { %traits }, '$set_once' => { first_seen => '2024-05-01' } },
    },
    'track:Order Completed' => {
        sdk => { method => 'track', args => {
            userId => $user, event => 'Order Completed', properties => { %order },
            context => web_context(), timestamp => $ts->(30) } },
        web => { event => 'Order Completed', timestamp => $ts->(30),
                 properties => { %{ web_props($user, 1) }, %order } },
    },
    group => {
        sdk => { method => 'group', args => {
            userId => $user, groupId => 'acme-inc', traits => { %company },
            context => web_context(), timestamp => $ts->(20) } },
        web => { event => '$groupidentify', timestamp => $ts->(20),
                 properties => { %{ web_props($user, 1) }, '$group_type' => 'company',
                                 '$group_key' => 'acme-inc', '$group_set' => { %company } } },
    },
    alias => {
        sdk => { method => 'alias', args => {
            userId => $user, previousId => 'crm-000981',
            context => web_context(), timestamp => $ts->(10) } },
        web => { event => '$create_alias', timestamp => $ts->(10),
                 properties => { %{ web_props($user, 1) }, alias => 'crm-000981' } },
    },
    # from the app: what posthog-android sends, to /batch/
    screen => {
        sdk => { method => 'screen', args => {
            userId => $user, name => 'Order Details', properties => { order_id => 'o-1001' },
            context => {
                ip       => '203.0.113.7',
                locale   => 'de-DE',
                timezone => 'Europe/Berlin',
                os       => { name => 'Android', version => '14' },
                device   => { type => 'Mobile', manufacturer => 'Google', model => 'Pixel 8' },
                screen   => { width => 1080, height => 2400, density => 2.625 },
                app      => { name => 'Shop', version => '5.2.0', build => '5200' },
            },
            timestamp => $ts->(5) } },
        mobile => { event => '$screen', distinct_id => $user, timestamp => $ts->(5),
            properties => {
                '$screen_name'         => 'Order Details',
                order_id               => 'o-1001',
                '$lib'                 => 'posthog-android',
                '$lib_version'         => '3.4.0',
                '$os'                  => 'Android',
                '$os_version'          => '14',
                '$device_type'         => 'Mobile',
                '$device_manufacturer' => 'Google',
                '$device_model'        => 'Pixel 8',
                '$app_name'            => 'Shop',
                '$app_version'         => '5.2.0',
                '$app_build'           => '5200',
                '$locale'              => 'de-DE',
                '$timezone'            => 'Europe/Berlin',
                '$screen_width'        => 1080,
                '$screen_height'       => 2400,
                '$screen_density'      => 2.625,
                '$session_id'          => '0192a3b4-0000-7000-8000-00000000d00d',
                '$is_identified'       => JSON::PP::true,
            } },
    },
);
my @cases = ('page', 'track:Product Viewed', 'identify', 'track:Order Completed',
             'group', 'alias', 'screen');
$case{$_}{type} = $case{$_}{sdk}{method} for @cases;

# the case a message is, on either side
sub case_of {
    my ($m) = @_;
    my $type = $m->{type} // '?';
    return $type eq 'track' ? "track:" . ($m->{event} // '?') : $type;
}


# --- the SDKs ---

my $t = CaptureTest->new;
my %sdk_s = map { $_ => StandIn->new(dir => $t->dir, spec => $_, write_key => $KEY{$_}) } @SDKS;
my %mod_s = map { $_ => StandIn->new(dir => $t->dir, spec => $_, write_key => $KEY{$_}) } @SDKS;

{
    my $file = $t->dir . '/calls.json';
    open my $fh, '>', $file or die "$file: $!";
    print {$fh} encode_json({
        segment     => { host => $sdk_s{segment}->url, path => $PATH{segment},
                         write_key => $KEY{segment} },
        rudderstack => { data_plane_url => $sdk_s{rudderstack}->url . '/dp',
                         write_key => $KEY{rudderstack} },
        calls       => [ map { $case{$_}{sdk} } @cases ],
    });
    close $fh;

    my ($status, $out, $raw) = run_node(60, "$FindBin::Bin/sdk/segment-sdks.mjs", $file);
    is($status, 0, 'both SDKs sent everything without an error') or diag $raw;
    for my $sdk (@SDKS) {
        is($out && $out->{$sdk}{calls}, scalar @cases, "$SDK_NAME{$sdk}: " . @cases . ' calls made');
    }
}


# --- the module ---

$t->write_conf(<<"EOF");
capture_destination seg {
    type       segment;
    url        @{[ $mod_s{segment}->url ]};
    write_key  $KEY{segment};
    flush_interval 100ms;
}

capture_destination rud {
    type       rudderstack;
    url        @{[ $mod_s{rudderstack}->url ]}/dp;
    write_key  $KEY{rudderstack};
    flush_interval 100ms;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture seg rud; }
}
EOF
$t->start;

# the browser's events as posthog-js posts them (an array to /e/, the
# token in the properties), the app's as posthog-android does
for my $c (@cases) { $case{$c}{uuid} = uuid() }
my @web = map { +{ uuid => $case{$_}{uuid}, %{ $case{$_}{web} } } } grep { $case{$_}{web} } @cases;
my @mobile = map { +{ uuid => $case{$_}{uuid}, %{ $case{$_}{mobile} } } } grep { $case{$_}{mobile} } @cases;
for my $post (['/ingest/e/', \@web], ['/ingest/batch/', { api_key => 'phc_parity_token', batch => \@mobile }]) {
    my $r = $t->request(method => 'POST', path => $post->[0], body => encode_json($post->[1]),
                        headers => { 'Content-Type' => 'application/json', 'User-Agent' => $ua });
    is($r->{status}, 200, "POST $post->[0] accepted") or diag explain $r;
}


# --- what each stand-in got ---

# JSON types, from a fresh decode: a number stays a number only until
# Perl uses it as a string
my $DECODE = JSON::PP->new->utf8->allow_nonref;

sub shape {
    my ($v) = @_;
    return 'null' unless defined $v;
    if (ref $v) {
        return { map { $_ => shape($v->{$_}) } keys %$v } if ref $v eq 'HASH';
        return [ map { shape($_) } @$v ] if ref $v eq 'ARRAY';
        return 'boolean' if JSON::PP::is_bool($v);
        return 'unknown ' . ref $v;
    }
    my $f = B::svref_2object(\$v)->FLAGS;
    return ($f & (B::SVp_IOK | B::SVp_NOK)) && !($f & B::SVp_POK) ? 'number' : 'string';
}

# {case => message shape}, [body shapes without batch], and the requests
sub collect {
    my ($s, $label) = @_;
    my (%by, @bodies);
    my $reqs = $s->requests;
    for my $r (@$reqs) {
        next unless ($r->{status} // 0) == 200 && defined $r->{body};
        my $j = eval { $DECODE->decode($r->{body}) };
        next unless ref $j eq 'HASH' && ref $j->{batch} eq 'ARRAY';
        for my $m (@{ $j->{batch} }) {
            my $c = case_of($m);
            ok(!$by{$c}, "$label: one $c message") or next;
            $by{$c} = shape($m);
        }
        my %body = %$j;
        delete $body{batch};
        push @bodies, shape(\%body);
    }
    return (\%by, \@bodies, $reqs);
}

my (%got, %bodies, %reqs);
for my $sdk (@SDKS) {
    for my $side (['sdk', $sdk_s{$sdk}, $SDK_NAME{$sdk}], ['module', $mod_s{$sdk}, "module $sdk"]) {
        my ($name, $s, $label) = @$side;
        my $ok = eval { $s->wait_messages(scalar @cases, 10); 1 };
        ok($ok, "$label: all " . @cases . ' messages arrived') or diag $@;
        ($got{$sdk}{$name}, $bodies{$sdk}{$name}, $reqs{$sdk}{$name}) = collect($s, $label);
        is_deeply([sort keys %{ $got{$sdk}{$name} }], [sort @cases], "$label: one message per case")
            or diag explain [sort keys %{ $got{$sdk}{$name} }];
        is_deeply($s->violations, [], "$label: no $sdk spec violation")
            or diag explain $s->violations;
        is_deeply([sort { $a cmp $b } keys %{{ map { ("$_->{method} $_->{path}" => 1) } @{ $reqs{$sdk}{$name} } }}],
                  ["POST $PATH{$sdk}"], "$label: POST $PATH{$sdk} only");
    }
    # the headers that make the request what it is
    for my $h ('content-encoding') {
        my %v = map { my $side = $_; $side => [sort keys %{{ map { (($_->{headers}{$h} // 'none') => 1) }
                                                              @{ $reqs{$sdk}{$side} } }}] } qw(sdk module);
        is_deeply($v{module}, $v{sdk}, "$sdk: $h as the SDK's (@{ $v{sdk} })");
    }
}


# --- the comparison ---

sub jtype { ref $_[0] eq 'HASH' ? 'object' : ref $_[0] eq 'ARRAY' ? 'array' : $_[0] }

# the differences between two shapes: [path, what] where what is
# 'sdk' (only the SDK has it), 'module', or 'type'
sub diff_shapes {
    my ($sdk, $mod, $path) = @_;
    my ($ts, $tm) = (jtype($sdk), jtype($mod));
    return ([$path, 'type', $ts, $tm]) if $ts ne $tm;
    my @d;
    if ($ts eq 'object') {
        my $at = sub { $path eq '' ? $_[0] : "$path.$_[0]" };
        for my $k (sort keys %{{ %$sdk, %$mod }}) {
            if (!exists $mod->{$k}) { push @d, [$at->($k), 'sdk', jtype($sdk->{$k})] }
            elsif (!exists $sdk->{$k}) { push @d, [$at->($k), 'module', jtype($mod->{$k})] }
            else { push @d, diff_shapes($sdk->{$k}, $mod->{$k}, $at->($k)) }
        }
    } elsif ($ts eq 'array') {
        my $n = @$sdk < @$mod ? scalar @$sdk : scalar @$mod;
        push @d, diff_shapes($sdk->[$_], $mod->[$_], "$path\[$_]") for 0 .. $n - 1;
    }
    return @d;
}

sub rule_matches {
    my ($rule, $type, $d) = @_;
    my ($types, $field, $side) = @$rule;
    return 0 unless $types eq '*' || grep { $_ eq $type } (ref $types ? @$types : $types);
    return 0 unless $d->[1] eq $side;
    return ref $field ? $d->[0] =~ $field : $d->[0] eq $field;
}

sub describe_diff {
    my ($sdk, $d) = @_;
    my ($path, $what, @t) = @$d;
    return "$path: only the module sends it ($t[0])" if $what eq 'module';
    return "$path: only $SDK_NAME{$sdk} sends it ($t[0])" if $what eq 'sdk';
    return "$path: $t[0] from $SDK_NAME{$sdk}, $t[1] from the module";
}

my $PRETTY = JSON::PP->new->pretty->canonical;
my %used;

for my $sdk (@SDKS) {
    my @allowed = map { @{ $ALLOWED{$_} } } 'both', $sdk, 'module';
    for my $c (@cases) {
        my $type = $case{$c}{type};
        my ($a, $b) = ($got{$sdk}{sdk}{$c}, $got{$sdk}{module}{$c});
        next unless $a && $b;
        my (@unexpected, @seen);
        for my $d (diff_shapes($a, $b, '')) {
            my ($rule) = grep { rule_matches($_, $type, $d) } @allowed;
            if ($rule) { $used{"$rule"}++; push @seen, $d; next }
            push @unexpected, $d;
        }
        ok(!@unexpected, "$sdk $c: the module's message has the fields, types and nesting "
           . "of $SDK_NAME{$sdk}'s") or diag join "\n",
            "  differences not in the allowed list:",
            (map { '    ' . describe_diff($sdk, $_) } @unexpected),
            "  the SDK's message (types):", $PRETTY->encode($a),
            "  the module's message (types):", $PRETTY->encode($b);
        note "$sdk $c: allowed: ", join ', ', map { describe_diff($sdk, $_) } @seen;
    }

    # the body around the messages: every request's, the same shape
    my %body_rules = map { $_->[0] => $_ } @{ $ALLOWED_BODY{$sdk} };
    my ($first_sdk) = @{ $bodies{$sdk}{sdk} };
    for my $i (0 .. $#{ $bodies{$sdk}{module} }) {
        next unless $first_sdk;
        my @unexpected;
        for my $d (diff_shapes($first_sdk, $bodies{$sdk}{module}[$i], '')) {
            my $rule = $body_rules{ $d->[0] };
            if ($rule && $rule->[1] eq $d->[1]) { $used{"$rule"}++; next }
            push @unexpected, $d;
        }
        ok(!@unexpected, "$sdk: module request $i: the body around the batch is the SDK's")
            or diag join "\n", map { '    ' . describe_diff($sdk, $_) } @unexpected;
    }
}

# the allowed list stays exact: each entry is still needed
for my $rule ((map { @$_ } values %ALLOWED), (map { @$_ } values %ALLOWED_BODY)) {
    my $field = @$rule == 4 ? $rule->[1] : $rule->[0];
    ok($used{"$rule"}, "allowed difference $field ($rule->[-1]) is still seen");
}

$t->done;
$_->stop for values %sdk_s, values %mod_s;

done_testing;
