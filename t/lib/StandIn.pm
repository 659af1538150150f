package StandIn;

# A stand-in remote destination for the delivery tests: a real HTTP/1.1
# server on 127.0.0.1 (t/lib/standin.mjs, run with node) that records
# every request and misbehaves on command.
#
#   use StandIn;
#   my $s = StandIn->new(dir => $t->dir);            # tls => 1 for https
#   ... point the module at $s->url ...
#   $s->mode('status', code => 503, count => 2);     # then back to ok
#   my $reqs = $s->wait_requests(3, 10);
#   my $events = $s->events;
#   $s->stop;                                         # also on DESTROY
#
# new(dir => DIR, tls => 0|1, keepalive_ms => MS,
#     spec => 'segment'|'rudderstack', write_key => KEY)
#     dir defaults to a temporary directory; keepalive_ms is how long an
#     idle connection is kept open (default 60000).  Files in dir, named
#     after the port: standin-PORT.jsonl (the record), standin-PORT.jsonl.d/
#     (bodies), standin-PORT.log (the server's output), standin-PORT.sock
#     (control), standin-PORT-ca.pem etc. (TLS).
#     spec makes it Segment's or RudderStack's API: every request is
#     checked against that API's rules (listed in standin.mjs, "spec
#     profiles") and answered as that service would (Segment: 200
#     {"success":true}, 400 for a body that is not JSON or too large;
#     RudderStack: 200 "OK" as text/plain, 401 bad credentials, 400 not
#     JSON or no userId/anonymousId, 413 too large).  write_key is the key
#     the credentials must carry (not compared without it).
# spec, write_key: as given (undef without)
# port, url, ca_file (tls only), pid, log (the server's output so far)
# mode(NAME, %options): takes effect before it returns
#     ok                       200 {"status":"Ok"} (the default)
#     status  code => N, body => TEXT, content_type => T, retry_after => V
#             (body defaults to {"type":"standin","code":N}, content_type
#             to application/json; Retry-After is sent only if given)
#     hang                     read the request, never answer, keep the
#                              connection open (even after a mode change)
#     close                    read the request, close the connection
#     slow    delay_ms => MS   200 after the delay
#   every mode takes count => N: only for the next N requests, then ok.
#   A gzip body that does not decode is answered 400 in ok, status and
#   slow modes (without using up a count).  With a spec, ok and slow
#   answer as the service does, and a request the service refuses (401,
#   400, 413, 404) is refused in ok, status and slow modes alike (without
#   using up a count).
# refuse: stop listening AND close every open connection (a server gone
#     down); accept: listen again on the same port.
# requests: arrayref of the recorded requests, in the order they were
#     fully read, each a hash: method, path, query, headers ({lowercase
#     name => value, repeats joined with ", "}), raw_headers ([[Name,
#     value], ...] as sent), body_raw_b64, body (bytes; gunzipped when
#     Content-Encoding is gzip; undef if that failed), json (the body
#     parsed, undef if not JSON), status (answered, undef if none or not
#     yet), t_ms (arrival of the request head, ms since the epoch), and
#     seq, conn (connection number: equal for requests that shared one),
#     http_version, tls, alpn, body_length, t_answer_ms, error (a broken
#     gzip, a body cut short), incomplete (the client left mid-body), hung,
#     closed, client_closed (gone before a slow answer); with a spec,
#     spec and violations (arrayref of strings, [] when the request keeps
#     every rule; not set for a request cut short).  Copies: later calls
#     see later statuses.
# wait_requests(N, SECS = 10), wait_events(N, SECS = 10),
#     wait_messages(N, SECS = 10): poll until there are at least N; return
#     the arrayref; croak on timeout.
# events: PostHog /batch/ bodies: json->{batch}[*] of every request
#     answered 2xx, in order, each with {_api_key} = the body's api_key.
# messages: Segment/RudderStack bodies: json->{batch}[*] of every request
#     to .../v1/batch answered 2xx, and the body of one to .../v1/TYPE, in
#     order, as sent (nothing added).
# violations: every violation recorded so far, one string each, prefixed
#     with the request: "request SEQ (METHOD PATH): what".  Needs a spec.
# reset: forget the requests recorded so far.  stop: end the server.

use strict;
use warnings;

use Carp qw(croak);
use Cwd ();
use File::Basename ();
use File::Temp ();
use IO::Select;
use IO::Socket::UNIX;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(sleep time);

# its _free_port never hands out a port twice in this process, so the
# stand-in and nginx cannot be given the same one
use CaptureTest ();

our $VERSION = '1.0';

my $SCRIPT = Cwd::abs_path(File::Basename::dirname(__FILE__)) . '/standin.mjs';

my $JSON = JSON::PP->new->utf8->canonical;
my $BODY_JSON = JSON::PP->new->utf8->allow_nonref;

my %MODE_OPTIONS = (
    ok     => [],
    status => [qw(code body content_type retry_after)],
    hang   => [],
    close  => [],
    slow   => [qw(delay_ms)],
);


sub new {
    my ($class, %o) = @_;

    my $dir = $o{dir}
        // File::Temp::tempdir('standin-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
    croak "StandIn: no directory $dir" unless -d $dir;

    croak "StandIn: unknown spec '$o{spec}' (segment or rudderstack)"
        if defined $o{spec} && $o{spec} !~ /^(segment|rudderstack)$/;
    croak 'StandIn: write_key needs a spec' if defined $o{write_key} && !defined $o{spec};

    my $self = bless {
        dir          => $dir,
        tls          => $o{tls} ? 1 : 0,
        keepalive_ms => $o{keepalive_ms} // 60000,
        spec         => $o{spec},
        write_key    => $o{write_key},
        owner        => $$,
    }, $class;
    $self->_forget;

    # the port is free when picked but not held: another process may take
    # it before node binds, so try again with another one
    my $why;
    for (1 .. 3) {
        $self->{port} = CaptureTest::_free_port();
        $why = $self->_start;
        return $self unless defined $why;
        last unless $why =~ /EADDRINUSE/;
    }
    croak "StandIn: the server did not start:\n$why";
}

sub port    { $_[0]{port} }
sub url     { ($_[0]{tls} ? 'https' : 'http') . "://127.0.0.1:$_[0]{port}" }
sub pid     { $_[0]{pid} }
sub spec    { $_[0]{spec} }
sub write_key { $_[0]{write_key} }
sub ca_file { $_[0]{tls} ? $_[0]{ca} : croak 'StandIn: ca_file needs tls => 1' }
sub log     { _slurp($_[0]{log}) // '' }


# Starts node on $self->{port}; undef once it answers on its control
# socket, else why not.
sub _start {
    my ($self) = @_;
    my $base = "$self->{dir}/standin-$self->{port}";

    $self->{record} = "$base.jsonl";
    $self->{log} = "$base.log";
    $self->{control} = "$base.sock";
    # a Unix socket path has at most 107 bytes
    if (length $self->{control} > 100) {
        my $short = File::Temp::tempdir('standin-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
        $self->{control} = "$short/ctl.sock";
    }
    unlink $self->{record}, $self->{log};

    my @args = ('--port', $self->{port}, '--control', $self->{control},
        '--record', $self->{record}, '--keepalive-ms', $self->{keepalive_ms});
    push @args, '--tls', $self->_make_certs($base) if $self->{tls};
    push @args, '--spec', $self->{spec} if defined $self->{spec};
    push @args, '--write-key', $self->{write_key} if defined $self->{write_key};

    my $pid = _spawn($self->{log}, 'node', $SCRIPT, @args);

    my $deadline = time + 5;
    for (;;) {
        if (waitpid($pid, WNOHANG) == $pid) {
            return "node exited with status " . ($? >> 8) . ":\n" . $self->log;
        }
        if (eval { $self->_control({ cmd => 'ping' }, 1) }) {
            $self->{pid} = $pid;
            return undef;
        }
        last if time > $deadline;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return "not listening within 5 s:\n" . $self->log;
}

# fork and exec, stdout and stderr to $log; returns the pid
sub _spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // croak "StandIn: fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    return $pid;
}

# runs a command to completion, croaks with its output if it fails
sub _run {
    my ($log, @cmd) = @_;
    my $pid = _spawn($log, @cmd);
    waitpid $pid, 0;
    croak "StandIn: '@cmd' failed (status " . ($? >> 8) . "):\n"
        . (_slurp($log) // '') if $?;
}

# A CA and a server certificate it signed, for 127.0.0.1 and localhost
# (P-256 keys: fast to make).  Returns (server cert, server key).
sub _make_certs {
    my ($self, $base) = @_;
    my $conf = "$base-openssl.cnf";
    my $log = "$base-openssl.log";

    # our own configuration, not the system's openssl.cnf and its defaults
    _write($conf, <<'EOF');
[req]
distinguished_name = dn
prompt = no
[dn]
CN = standin
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

    my @key = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes');
    _run($log, 'openssl', 'req', '-config', $conf, '-x509', @key,
        '-keyout', "$base-ca.key", '-out', "$base-ca.pem", '-days', 7,
        '-subj', '/CN=StandIn test CA', '-extensions', 'ca_ext');
    _run($log, 'openssl', 'req', '-config', $conf, '-new', @key,
        '-keyout', "$base-server.key", '-out', "$base-server.csr",
        '-subj', '/CN=127.0.0.1');
    _run($log, 'openssl', 'x509', '-req', '-in', "$base-server.csr",
        '-CA', "$base-ca.pem", '-CAkey', "$base-ca.key",
        '-set_serial', int(rand(2**31)) + 1, '-days', 7,
        '-extfile', $conf, '-extensions', 'server_ext',
        '-out', "$base-server.pem");

    $self->{ca} = "$base-ca.pem";
    return ("$base-server.pem", "$base-server.key");
}


# One command over the control socket: a JSON line each way.  Returns the
# answer; croaks if it cannot be had or says no.
sub _control {
    my ($self, $msg, $timeout) = @_;
    $timeout //= 5;

    my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $self->{control})
        or croak "StandIn: cannot reach the server's control socket "
            . "($self->{control}: $!)\nserver log:\n" . $self->log;

    local $SIG{PIPE} = 'IGNORE';
    syswrite $c, $JSON->encode($msg) . "\n";

    my ($buf, $sel, $deadline) = ('', IO::Select->new($c), time + $timeout);
    while (index($buf, "\n") < 0) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $c, $buf, 65536, length $buf;
        last unless $n;
    }
    close $c;

    my $reply = index($buf, "\n") >= 0 ? eval { $JSON->decode($buf) } : undef;
    croak "StandIn: no answer to '$msg->{cmd}' within $timeout s\nserver log:\n"
        . $self->log unless $reply;
    croak "StandIn: '$msg->{cmd}' refused: $reply->{error}" unless $reply->{ok};
    return $reply;
}

sub mode {
    my ($self, $name, %o) = @_;

    croak "StandIn: unknown mode '" . ($name // '') . "'"
        unless defined $name && $MODE_OPTIONS{$name};
    my %allowed = map { $_ => 1 } 'count', @{$MODE_OPTIONS{$name}};
    for my $k (sort keys %o) {
        croak "StandIn: mode $name takes no option '$k'" unless $allowed{$k};
    }
    # numbers as JSON numbers; Retry-After as text (it may be a date)
    for my $k (qw(code count delay_ms)) {
        $o{$k} = 0 + $o{$k} if defined $o{$k};
    }
    $o{retry_after} = "$o{retry_after}" if defined $o{retry_after};

    $self->_control({ %o, cmd => 'mode', mode => $name });
    return $self;
}

sub refuse { $_[0]->_control({ cmd => 'refuse' }); $_[0] }
sub accept { $_[0]->_control({ cmd => 'accept' }); $_[0] }

sub reset {
    my ($self) = @_;
    $self->_control({ cmd => 'reset' });
    $self->_forget;
    return $self;
}

sub _forget {
    my ($self) = @_;
    $self->{offset} = 0;
    $self->{reqs} = [];
    $self->{by_seq} = {};
}


# Reads the lines of the record file added since the last call.
sub _load {
    my ($self) = @_;

    open my $fh, '<', $self->{record} or return;
    binmode $fh;
    $self->_forget if (-s $fh || 0) < $self->{offset};   # emptied
    seek $fh, $self->{offset}, 0;
    my $data = do { local $/; <$fh> } // '';
    close $fh;

    # only whole lines: the server may be writing the last one
    my $end = rindex $data, "\n";
    return if $end < 0;
    $self->{offset} += $end + 1;

    for my $line (split /\n/, substr($data, 0, $end)) {
        next if $line eq '';
        my $l = $JSON->decode($line);
        if ($l->{type} eq 'request') {
            my $r = $self->_request($l);
            push @{$self->{reqs}}, $r;
            $self->{by_seq}{$r->{seq}} = $r;
        } elsif ($l->{type} eq 'answer') {
            # the request may have been recorded before a reset
            my $r = $self->{by_seq}{$l->{seq}} or next;
            $r->{$_} = $l->{$_} for grep { $_ ne 'type' && $_ ne 'seq' } keys %$l;
        }
    }
}

# a request line and its body files as the hash requests() gives
sub _request {
    my ($self, $l) = @_;
    my %r = %$l;
    delete @r{qw(type body_file)};

    my $files = "$self->{record}.d/$l->{seq}";
    my $raw = _slurp("$files.raw") // '';
    $r{body_raw_b64} = encode_base64($raw, '');
    $r{body} = !defined $l->{body_file} ? undef
             : $l->{body_file} eq 'raw' ? $raw
             : _slurp("$files.$l->{body_file}");
    $r{json} = defined $r{body} && length $r{body}
        ? eval { $BODY_JSON->decode($r{body}) } : undef;
    $r{status} //= undef;

    return \%r;
}

sub requests {
    my ($self) = @_;
    $self->_load;
    return [ map { +{%$_} } @{$self->{reqs}} ];
}

sub events {
    my ($self) = @_;
    my @events;
    for my $r (@{$self->requests}) {
        next unless defined $r->{status} && $r->{status} =~ /^2\d\d$/;
        my $j = $r->{json};
        next unless ref $j eq 'HASH' && ref $j->{batch} eq 'ARRAY';
        push @events, map { ref $_ eq 'HASH' ? { %$_, _api_key => $j->{api_key} } : $_ }
            @{$j->{batch}};
    }
    return \@events;
}

sub messages {
    my ($self) = @_;
    my @messages;
    for my $r (@{$self->requests}) {
        next unless defined $r->{status} && $r->{status} =~ /^2\d\d$/;
        my $j = $r->{json};
        if ($r->{path} =~ m{(?:^|/)v1/batch$}) {
            push @messages, @{$j->{batch}} if ref $j eq 'HASH' && ref $j->{batch} eq 'ARRAY';
        } elsif ($r->{path} =~ m{(?:^|/)v1/(?:track|identify|page|screen|group|alias)$}) {
            push @messages, $j if ref $j eq 'HASH';
        }
    }
    return \@messages;
}

sub violations {
    my ($self) = @_;
    croak 'StandIn: violations needs a spec (StandIn->new(spec => ...))'
        unless defined $self->{spec};
    return [ map {
        my $r = $_;
        map { "request $r->{seq} ($r->{method} $r->{path}): $_" } @{$r->{violations} // []}
    } @{$self->requests} ];
}

sub wait_requests {
    my ($self, $n, $secs) = @_;
    return $self->_wait('requests', $n, $secs);
}

sub wait_events {
    my ($self, $n, $secs) = @_;
    return $self->_wait('events', $n, $secs);
}

sub wait_messages {
    my ($self, $n, $secs) = @_;
    return $self->_wait('messages', $n, $secs);
}

sub _wait {
    my ($self, $what, $n, $secs) = @_;
    $secs //= 10;
    my $deadline = time + $secs;
    for (;;) {
        my $list = $self->$what;
        return $list if @$list >= $n;
        if (time > $deadline) {
            my $seen = join '', map {
                "\n  $_->{method} $_->{path} -> " . ($_->{status} // 'no answer')
            } @{$self->requests};
            croak "StandIn: waited $secs s for $n $what on port $self->{port}, "
                . "got " . scalar(@$list) . ($seen ? "; requests:$seen" : '; no requests');
        }
        sleep 0.05;
    }
}


sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return $self;

    kill 'TERM', $pid;
    unless (_reap($pid, 3)) {
        kill 'KILL', $pid;
        _reap($pid, 2);
    }
    unlink $self->{control};
    return $self;
}

sub _reap {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $w = waitpid $pid, WNOHANG;
        return 1 if $w == $pid || $w < 0;
        sleep 0.02;
    }
    return 0;
}

sub DESTROY {
    my ($self) = @_;
    # forked children inherit the object: only its owner stops the server
    return unless $self->{owner} && $$ == $self->{owner};
    local ($?, $!, $@);
    $self->stop;
}


sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    my $content = <$fh> // '';
    close $fh;
    return $content;
}

sub _write {
    my ($path, $content) = @_;
    open my $fh, '>', $path or croak "StandIn: cannot write $path: $!";
    print {$fh} $content;
    close $fh or croak "StandIn: cannot write $path: $!";
}

1;
