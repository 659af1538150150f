#!/usr/bin/perl
# Request bodies as nginx hands them over: one buffer, several buffers
# (chunked, or a body arriving in parts), a temporary file (large bodies,
# client_body_in_file_only), plain and gzip.

use strict;
use warnings;
use Test::More;

use FindBin;
use lib "$FindBin::Bin/lib";
use CaptureTest qw(encode_json gzip_bytes);

plan skip_all => 'set CAPTURE_MODULE to the absolute path of '
    . 'ngx_http_capture_module.so' unless $ENV{CAPTURE_MODULE};

my $t = CaptureTest->new;
$t->write_conf(<<'EOF', log_level => 'info');
capture_destination local { type file; path %%DIR%%/events.jsonl; }

server {
    listen 127.0.0.1:%%PORT%%;

    location /small/ {
        capture local;
        client_body_buffer_size 1k;
        client_max_body_size 20m;
    }

    location /big/ {
        capture local;
        client_body_buffer_size 8k;
        client_max_body_size 20m;
    }

    location /infile/ {
        capture local;
        client_body_in_file_only on;
    }
}
EOF
$t->start;

my $seen = 0;

# a batch of $n events with a recognisable, checkable property each
# ($noise: bytes of pseudo-random hex per event, to defeat compression)
sub batch {
    my ($tag, $n, $pad, $noise) = @_;
    srand 42;
    return encode_json({ api_key => 'phc_body', batch => [ map { {
        event => "$tag-$_", distinct_id => "user-$_",
        properties => { i => $_, pad => chr(97 + $_ % 26) x $pad,
            text => "caf\x{e9} \x{1F600}",
            $noise ? (noise => join '', map { sprintf '%02x', int rand 256 }
                1 .. $noise / 2) : () },
    } } 1 .. $n ] });
}

sub check {
    my ($name, $r, $tag, $n, $pad) = @_;
    is($r->{status}, 200, "$name: status 200") or diag explain $r;
    is($r->{body}, '{"status":"Ok"}', "$name: body");

    my $all = $t->events('events.jsonl');
    my @new = @$all[$seen .. $#$all];
    $seen = @$all;

    is(scalar @new, $n, "$name: $n events");
    my $bad = 0;
    for my $k (1 .. @new) {
        my $ev = $new[$k - 1];
        $bad++ unless $ev->{event} eq "$tag-$k"
            && $ev->{distinct_id} eq "user-$k"
            && $ev->{properties}{i} == $k
            && $ev->{properties}{pad} eq chr(97 + $k % 26) x $pad
            && $ev->{properties}{text} eq "caf\x{e9} \x{1F600}";
    }
    is($bad, 0, "$name: every event intact and in order");
}

sub post {
    my ($path, %r) = @_;
    return $t->request(method => 'POST', path => $path,
        headers => { 'Content-Type' => 'application/json' }, %r);
}

# one buffer

{
    my $body = batch('one', 3, 10);
    check('one buffer', post('/small/batch/', body => $body), 'one', 3, 10);
}

# several buffers: a chunked body of a few KB in small parts

{
    my $body = batch('chunked', 20, 150);
    ok(length $body > 3000, 'chunked body is a few KB');
    my @parts = unpack '(a700)*', $body;
    check('chunked, several parts',
        post('/small/batch/', chunked => \@parts), 'chunked', 20, 150);
}

{
    my $body = gzip_bytes(batch('chunked-gz', 40, 300));
    my @parts = unpack '(a300)*', $body;
    check('gzip, chunked in parts',
        post('/small/batch/', chunked => \@parts,
            headers => { 'Content-Type' => 'text/plain' }),
        'chunked-gz', 40, 300);
}

{
    # header buffer gets the first part, the rest arrives later
    my $body = batch('parts', 4, 100);
    ok(length $body < 1024, 'fits client_body_buffer_size');
    check('Content-Length body in two parts',
        post('/small/batch/', body_parts => [ substr($body, 0, 200),
            substr($body, 200) ]), 'parts', 4, 100);
}

{
    my $body = batch('parts-many', 12, 200);
    check('Content-Length body in many parts',
        post('/small/batch/', body_parts => [ unpack '(a500)*', $body ]),
        'parts-many', 12, 200);
}

# a temporary file

{
    my $body = batch('file', 200, 1000);
    ok(length $body > 200_000, 'large body over 200 KB');
    check('body in a temp file', post('/big/batch/', body => $body),
        'file', 200, 1000);
}

{
    my $body = batch('file-chunked', 100, 2000);
    check('chunked body in a temp file',
        post('/big/batch/', chunked => [ unpack '(a16384)*', $body ]),
        'file-chunked', 100, 2000);
}

{
    # gzip over 8k compressed: the noise keeps it from shrinking much
    my $raw = batch('file-gz', 300, 800, 200);
    my $gz = gzip_bytes($raw);
    ok(length $gz > 20_000, 'compressed body over client_body_buffer_size');
    check('gzip body in a temp file (' . length($gz) . ' bytes)',
        post('/big/batch/', body => $gz,
            headers => { 'Content-Type' => 'text/plain' }),
        'file-gz', 300, 800);
}

{
    my $body = batch('infile', 2, 10);
    check('client_body_in_file_only', post('/infile/batch/', body => $body),
        'infile', 2, 10);
    my $gz = gzip_bytes(batch('infile-gz', 5, 50));
    check('client_body_in_file_only, gzip',
        post('/infile/e/', body => $gz,
            headers => { 'Content-Type' => 'text/plain' }),
        'infile-gz', 5, 50);
}

ok($t->error_log =~ /client request body is buffered to a temporary file/,
    'some bodies went through temporary files');

# a large decoded payload from a small gzip body

{
    my $raw = batch('inflate', 2000, 1000);
    my $gz = gzip_bytes($raw);
    ok(length $raw > 2_000_000 && length $gz < 200_000,
        'gzip body inflates to over 2 MB');
    check('gzip inflating to 2 MB', post('/big/batch/', body => $gz,
        headers => { 'Content-Encoding' => 'gzip' }), 'inflate', 2000, 1000);
}

$t->done;
done_testing;
