#!/usr/bin/perl
# Per-destination filters: include and exclude lists of event names with
# "*" wildcards, and a deterministic sample of distinct_ids; each applies
# to its own destination only.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json);
use StandIn;

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};
plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';

my $t = CaptureTest->new;
my %s = map { $_ => StandIn->new(dir => $t->dir) } qw(names half none all);
my %u = map { $_ => $s{$_}->url } keys %s;

$t->write_conf(<<"EOF");
capture_destination names {
    type webhook; url $u{names}/; flush_interval 50ms; batch_size 1000;
    include  \$pageview sign* *_clicked;
    exclude  *_debug_clicked;
}
capture_destination half {
    type webhook; url $u{half}/; flush_interval 50ms; batch_size 1000;
    sample 0.5;
}
capture_destination none {
    type webhook; url $u{none}/; flush_interval 50ms; sample 0;
}
capture_destination all {
    type webhook; url $u{all}/; flush_interval 50ms; batch_size 1000;
    sample 1.0;
}

server {
    listen 127.0.0.1:%%PORT%%;
    location /ingest/ { capture names half none all; }
}
EOF
$t->start;

sub send_batch {
    my (@events) = @_;
    my $r = $t->request(method => 'POST', path => '/ingest/batch/',
        headers => { 'Content-Type' => 'application/json' },
        body => encode_json({ api_key => 'phc_f', batch => \@events }));
    is($r->{status}, 200, scalar(@events) . ' events accepted');
}

sub got {
    my ($name, $n) = @_;
    my $reqs = $s{$name}->requests;
    return [ map { @{$_->{json}} } @$reqs ];
}

my @names = ('$pageview', 'signup', 'sign_in', 'button_clicked',
    'menu_debug_clicked', '$autocapture', 'clicked', 'pageview');

send_batch(map { { event => $_, distinct_id => "d-$_" } } @names);

$s{all}->wait_requests(1, 10);
$s{names}->wait_requests(1, 10);

is_deeply([ map { $_->{event} } @{ got('names') } ],
    [ '$pageview', 'signup', 'sign_in', 'button_clicked' ],
    'include with wildcards, exclude wins over include');
is_deeply([ map { $_->{event} } @{ got('all') } ], \@names,
    'sample 1.0: every event, in order');

# 400 users: about half of them, the same ones on every request

my @users = map { "user-$_" } 1 .. 400;
send_batch(map { { event => 'tick', distinct_id => $_ } } @users);
$s{half}->wait_requests(2, 10);
$s{all}->wait_requests(2, 10);

my %first = map { $_->{distinct_id} => 1 }
    grep { $_->{event} eq 'tick' } @{ got('half') };
my $n = keys %first;
ok($n > 140 && $n < 260, "sample 0.5: $n of 400 users");

send_batch(map { { event => 'tock', distinct_id => $_ } } @users);
$s{half}->wait_requests(3, 10);
$s{all}->wait_requests(3, 10);

my %second = map { $_->{distinct_id} => 1 }
    grep { $_->{event} eq 'tock' } @{ got('half') };
is_deeply([ sort keys %second ], [ sort keys %first ],
    'sample 0.5: the same users the second time');

is(scalar(grep { $_->{event} eq 'tock' } @{ got('all') }), 400,
    'the other destinations are not sampled');

sleep 1;
is(scalar @{ $s{none}->requests }, 0, 'sample 0: nothing sent');

# configuration errors

for my $case ([ 'sample 1.5', qr/invalid "sample"/ ],
              [ 'sample abc', qr/invalid "sample"/ ],
              [ 'sample 0.1234567', qr/invalid "sample"/ ])
{
    my ($line, $re) = @$case;
    my $c = CaptureTest->new;
    $c->write_conf("capture_destination d { type webhook; "
        . "url http://127.0.0.1:9/; $line; }\n"
        . "server { listen 127.0.0.1:%%PORT%%; "
        . "location / { capture d; } }\n");
    my ($ok, $out) = $c->conf_test;
    ok(!$ok, "$line: nginx -t fails");
    like($out, $re, "$line: the reason");
}

$t->done;
done_testing;
