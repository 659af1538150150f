package CaptureTest;

# A small nginx test harness for the capture module, core Perl only.
#
#   use lib 't/lib';
#   use CaptureTest;
#   my $t = CaptureTest->new;
#   $t->write_conf(<<'EOF');
#   server { listen 127.0.0.1:%%PORT%%; ... }
#   EOF
#   $t->start;
#   my $r = $t->request(method => 'POST', path => '/ingest/e/', body => $json);
#   my $ev = $t->events('events.jsonl');
#   $t->done;
#   done_testing;
#
# Beyond the basics: write_conf(..., main => $text) adds main-context
# directives; request(..., port => $t->port2, timeout => $secs,
# body_parts => [..] (a Content-Length body written in parts), pause =>
# $secs (between parts or chunks)); signal($name, $settle_secs) waits 0.5 s
# by default; $t->pid, $t->conf; events() defaults to 'events.jsonl' and
# dies on a line that is not JSON.  done(allow => qr/.../ or [qr/.../, ...])
# does not count the [alert], [crit] or [emerg] lines that match as
# failures (for tests that expect them and check them themselves).
#
# Environment:
#   CAPTURE_MODULE  absolute path of ngx_http_capture_module.so ("none":
#                   load no module, for a self-check of the harness)
#   CAPTURE_NGINX   the nginx binary (default /usr/sbin/nginx); not NGINX,
#                   which nginx itself reads as inherited sockets
#   CAPTURE_ASAN=1  preload libasan/libubsan, fail done() on any report
#   CAPTURE_KEEP=1  keep the test directory (its path is printed)

use strict;
use warnings;

use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use File::Temp ();
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);
use Exporter qw(import);

our $VERSION = '1.0';

# helpers for building payloads, on request:
#   use CaptureTest qw(encode_json urlencode gzip_bytes b64 iso_ms ms_iso);
our @EXPORT_OK = qw(encode_json urlencode gzip_bytes b64 iso_ms ms_iso);

my %reserved_ports;

# nginx daemonizes: make this process the subreaper of its masters so that
# they are reaped here rather than left as zombies where no init reaps
# (Linux x86_64: prctl(PR_SET_CHILD_SUBREAPER, 1))
if ($^O eq 'linux') {
    require Config;
    if (($Config::Config{archname} // '') =~ /^x86_64/) {
        local $!;
        eval { syscall(157, 36, 1, 0, 0, 0) };
    }
}


sub new {
    my ($class, %opts) = @_;

    my $keep = $ENV{CAPTURE_KEEP} ? 1 : 0;
    my $dir = File::Temp::tempdir('ngxtest-XXXXXXXX',
        TMPDIR => 1, CLEANUP => !$keep);

    # the worker (user root when run as root, else the same user) writes
    # its logs, events and sanitizer reports here
    chmod 0777, $dir;

    Test::More::diag("test directory kept: $dir") if $keep;

    my $self = bless {
        dir     => $dir,
        nginx   => $opts{nginx} // $ENV{CAPTURE_NGINX} // '/usr/sbin/nginx',
        opts    => \%opts,
        owner   => $$,
        running => 0,
    }, $class;

    $self->{port}  = $opts{port}  // _free_port();
    $self->{port2} = $opts{port2} // _free_port($self->{port});

    return $self;
}

sub dir   { $_[0]{dir} }
sub port  { $_[0]{port} }
sub port2 { $_[0]{port2} }


# a free loopback TCP port, different from those given and from any this
# process handed out already
sub _free_port {
    my (@avoid) = @_;
    my %avoid = map { $_ => 1 } @avoid;

    for (1 .. 100) {
        my $s = IO::Socket::IP->new(
            LocalHost => '127.0.0.1',
            LocalPort => 0,
            Proto     => 'tcp',
            Listen    => 1,
            ReuseAddr => 1,
        ) or croak "cannot bind a loopback port: $@";
        my $port = $s->sockport;
        close $s;
        next if $avoid{$port} || $reserved_ports{$port};
        $reserved_ports{$port} = 1;
        return $port;
    }

    croak "no free port found";
}


sub _module_path {
    my $m = $ENV{CAPTURE_MODULE};

    croak "CAPTURE_MODULE is not set" unless defined $m && length $m;
    return undef if $m eq 'none';
    croak "CAPTURE_MODULE must be an absolute path, not '$m'"
        unless $m =~ m{^/};
    croak "CAPTURE_MODULE '$m' does not exist" unless -f $m;

    return $m;
}


sub write_conf {
    my ($self, $http, %opts) = @_;
    my $dir = $self->{dir};

    croak "write_conf: no http block text" unless defined $http;

    my $module = _module_path();
    my $workers = $opts{workers} // 1;
    my $level = $opts{log_level} // 'info';

    for my $sub (qw(body proxy fastcgi uwsgi scgi)) {
        mkdir "$dir/$sub";
        chmod 0777, "$dir/$sub";
    }

    $http = $self->_subst($http);

    my $conf = '';
    $conf .= "load_module $module;\n" if defined $module;
    $conf .= "worker_processes $workers;\n"
        . "daemon on;\n"
        . "master_process on;\n"
        . "pid $dir/nginx.pid;\n"
        . "error_log $dir/error.log $level;\n";
    $conf .= "user root;\n" if $> == 0;
    $conf .= ($opts{main} // '') . "\n" if defined $opts{main};
    $conf .= "\n"
        . "events {\n"
        . "    worker_connections 1024;\n"
        . "}\n"
        . "\n"
        . "http {\n"
        . "    client_body_temp_path $dir/body;\n"
        . "    proxy_temp_path $dir/proxy;\n"
        . "    fastcgi_temp_path $dir/fastcgi;\n"
        . "    uwsgi_temp_path $dir/uwsgi;\n"
        . "    scgi_temp_path $dir/scgi;\n"
        . "    access_log $dir/access.log;\n"
        . "\n"
        . $http
        . "\n}\n";

    $self->_write_file("$dir/nginx.conf", $conf);
    $self->{conf} = $conf;

    return $self;
}

sub _subst {
    my ($self, $text) = @_;
    $text =~ s/%%PORT%%/$self->{port}/g;
    $text =~ s/%%PORT2%%/$self->{port2}/g;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    return $text;
}

sub _write_file {
    my ($self, $path, $content) = @_;
    open my $fh, '>', $path or croak "cannot write $path: $!";
    binmode $fh;
    print {$fh} $content;
    close $fh or croak "cannot write $path: $!";
}

sub _read_file {
    my ($self, $path) = @_;
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    my $content = <$fh>;
    close $fh;
    return $content // '';
}

# the text of nginx.conf as written (handy for diagnostics)
sub conf { $_[0]{conf} }


# the environment for nginx: sanitizer runtimes and their options
sub _env {
    my ($self) = @_;
    my %env;

    return %env unless $ENV{CAPTURE_ASAN};

    my $dir = $self->{dir};
    my @pre;
    for my $lib ('libasan.so', 'libubsan.so') {
        my $p = `gcc -print-file-name=$lib`;
        chomp $p;
        push @pre, $p if $p =~ m{^/} && -e $p;
    }
    croak "CAPTURE_ASAN=1 but gcc knows no libasan.so" unless @pre;

    $env{LD_PRELOAD} = join ':', @pre;
    $env{ASAN_OPTIONS} = "detect_leaks=0:log_path=$dir/asan";
    $env{UBSAN_OPTIONS} = "print_stacktrace=1:log_path=$dir/ubsan";

    return %env;
}

# runs a command with the nginx environment; returns ($status, $output)
sub _run {
    my ($self, @cmd) = @_;
    my %env = $self->_env;

    local @ENV{keys %env} = values %env;

    my $out = "$self->{dir}/.cmd.out";
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        # nginx takes $NGINX for inherited listening sockets
        delete $ENV{NGINX};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec { $cmd[0] } @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $?;

    my $output = $self->_read_file($out) // '';
    unlink $out;

    return ($status, $output);
}


sub conf_test {
    my ($self) = @_;
    my $dir = $self->{dir};

    croak "conf_test: write_conf first" unless -f "$dir/nginx.conf";

    # the early error log of "nginx -t" goes to its own file so that a
    # configuration expected to fail leaves error.log clean
    my ($status, $output) = $self->_run($self->{nginx}, '-t', '-q',
        '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/conf_test.log");

    return ($status == 0 ? 1 : 0, $output);
}


sub start {
    my ($self) = @_;
    my $dir = $self->{dir};

    croak "start: write_conf first" unless -f "$dir/nginx.conf";
    croak "start: already running" if $self->{running};

    unlink "$dir/nginx.pid";

    my ($status, $output) = $self->_run($self->{nginx},
        '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/error.log");

    if ($status != 0) {
        croak "nginx failed to start (status " . ($status >> 8) . "):\n"
            . $output . "\nerror.log:\n" . ($self->error_log // '');
    }

    my $deadline = time + 5;
    my $pid;
    while (time < $deadline) {
        $pid //= $self->_read_pid;
        if ($pid && $self->_port_accepts($self->{port})) {
            $self->{pid} = $pid;
            $self->{running} = 1;
            return $self;
        }
        sleep 0.05;
    }

    $self->{pid} = $pid;
    $self->_kill_hard if $pid;
    croak "nginx did not accept on port $self->{port} within 5 s:\n"
        . $output . "\nerror.log:\n" . ($self->error_log // '');
}

sub _read_pid {
    my ($self) = @_;
    my $p = $self->_read_file("$self->{dir}/nginx.pid");
    return undef unless defined $p && $p =~ /^\s*(\d+)/;
    return $1;
}

sub _port_accepts {
    my ($self, $port) = @_;
    my $s = IO::Socket::IP->new(
        PeerHost => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 1,
    );
    return 0 unless $s;
    close $s;
    return 1;
}

# the master's pid (undef when not running)
sub pid { $_[0]{running} ? $_[0]{pid} : undef }


sub signal {
    my ($self, $name, $settle) = @_;

    croak "signal: nginx is not running" unless $self->{running};
    $name =~ s/^SIG//;
    kill $name, $self->{pid} or croak "kill -$name $self->{pid}: $!";

    # let the master pass it on (reopen, reload) before the next request
    sleep($settle // 0.5);

    return $self;
}


sub _alive {
    my ($pid) = @_;
    # reap it if it happens to be our child
    waitpid $pid, WNOHANG;
    return 0 unless kill 0, $pid;
    # a zombie nobody reaps (no init in a container) counts as gone
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub _wait_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless _alive($pid);
        sleep 0.05;
    }
    return !_alive($pid);
}

sub stop {
    my ($self) = @_;

    return $self unless $self->{running};
    my $pid = $self->{pid};
    $self->{running} = 0;

    kill 'QUIT', $pid;
    return $self if _wait_gone($pid, 10);

    Test::More::diag("nginx master $pid did not quit within 10 s: TERM");
    $self->{stop_failed} = 1;
    $self->_kill_hard;

    return $self;
}

sub _kill_hard {
    my ($self) = @_;
    my $pid = $self->{pid} or return;

    kill 'TERM', $pid;
    return if _wait_gone($pid, 3);
    kill 'KILL', $pid;
    _wait_gone($pid, 2);
}


sub done {
    my ($self, %opts) = @_;
    my $dir = $self->{dir};

    # allow => qr/.../ or [qr/.../, ...]: alert, crit or emerg lines that
    # a test expects (and checks itself) and that do not fail done()
    my $allow = $opts{allow} // [];
    $allow = [$allow] unless ref $allow eq 'ARRAY';

    # failures are reported at the test's line
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    $self->stop;

    Test::More::ok(!$self->{stop_failed}, 'nginx quit gracefully');

    my $log = $self->error_log // '';
    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;
    for my $re (@$allow) {
        @bad = grep { $_ !~ $re } @bad;
    }
    Test::More::ok(!@bad, 'no alert, crit or emerg in error.log')
        or Test::More::diag(join "\n", @bad);

    if ($ENV{CAPTURE_ASAN}) {
        my @reports = sort(glob("$dir/asan.*"), glob("$dir/ubsan.*"));
        Test::More::ok(!@reports, 'no sanitizer report');
        for my $f (@reports) {
            Test::More::diag("$f:\n" . ($self->_read_file($f) // ''));
        }
    }

    return $self;
}


sub error_log {
    my ($self) = @_;
    return $self->_read_file("$self->{dir}/error.log") // '';
}


sub events {
    my ($self, $file) = @_;
    $file //= 'events.jsonl';
    my $path = $file =~ m{^/} ? $file : "$self->{dir}/$file";

    my $content = $self->_read_file($path);
    return [] unless defined $content;

    my $json = JSON::PP->new->utf8;
    my @events;
    my $n = 0;
    for my $line (split /\n/, $content) {
        $n++;
        next if $line eq '';
        my $ev = eval { $json->decode($line) };
        croak "events: line $n of $path is not JSON ($@): $line"
            unless defined $ev;
        push @events, $ev;
    }

    return \@events;
}


sub request {
    my ($self, %r) = @_;

    my $method = $r{method} // 'GET';
    my $path = $r{path} // '/';
    my $port = $r{port} // $self->{port};
    my $timeout = $r{timeout} // 10;

    my @headers;
    if (ref $r{headers} eq 'HASH') {
        @headers = map { ($_, $r{headers}{$_}) } sort keys %{$r{headers}};
    } elsif (ref $r{headers} eq 'ARRAY') {
        @headers = @{$r{headers}};
    }

    my %have;
    for (my $i = 0; $i < @headers; $i += 2) {
        $have{lc $headers[$i]} = 1;
    }

    my $head = "$method $path HTTP/1.1\r\n";
    $head .= "Host: localhost\r\n" unless $have{host};
    $head .= "Connection: close\r\n" unless $have{connection};
    for (my $i = 0; $i < @headers; $i += 2) {
        $head .= "$headers[$i]: $headers[$i + 1]\r\n";
    }

    my @parts;
    my $raw_parts;
    if ($r{body_parts}) {
        # a Content-Length body written in these parts, with pauses
        $raw_parts = $r{body_parts};
        $head .= "Content-Length: " . length(join '', @$raw_parts) . "\r\n"
            unless $have{'content-length'};
    } elsif ($r{chunked}) {
        $head .= "Transfer-Encoding: chunked\r\n"
            unless $have{'transfer-encoding'};
        @parts = @{$r{chunked}};
    } elsif (defined $r{body}) {
        $head .= "Content-Length: " . length($r{body}) . "\r\n"
            unless $have{'content-length'};
    }
    $head .= "\r\n";

    my $s = IO::Socket::IP->new(
        PeerHost => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => $timeout,
    ) or croak "cannot connect to 127.0.0.1:$port: $@";
    binmode $s;

    local $SIG{PIPE} = 'IGNORE';

    my $ok = _send_all($s, $head, $timeout);
    if ($ok && $raw_parts) {
        for my $part (@$raw_parts) {
            sleep($r{pause} // 0.05);
            $ok = _send_all($s, $part, $timeout) or last;
        }
    } elsif ($ok && $r{chunked}) {
        for my $part (@parts) {
            next unless length $part;
            $ok = _send_all($s, sprintf("%x\r\n", length $part)
                . $part . "\r\n", $timeout) or last;
            sleep($r{pause} // 0.05);
        }
        $ok = _send_all($s, "0\r\n\r\n", $timeout) if $ok;
    } elsif ($ok && defined $r{body}) {
        $ok = _send_all($s, $r{body}, $timeout);
    }

    # the server may answer (and close) before it read the whole body:
    # whatever it sent is still readable
    my $raw = _recv_all($s, $timeout);
    close $s;

    return _parse_response($raw);
}

sub _send_all {
    my ($s, $data, $timeout) = @_;
    my $off = 0;
    my $sel = IO::Select->new($s);

    while ($off < length $data) {
        return 0 unless $sel->can_write($timeout);
        my $n = syswrite $s, $data, 65536, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return 0;
        }
        $off += $n;
    }

    return 1;
}

sub _recv_all {
    my ($s, $timeout) = @_;
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;

    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, my $buf, 65536;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            last;
        }
        last if $n == 0;
        $raw .= $buf;
    }

    return $raw;
}

sub _parse_response {
    my ($raw) = @_;
    my %res = (status => 0, headers => {}, body => '', raw => $raw);

    my $end = index $raw, "\r\n\r\n";
    return \%res if $end < 0;

    my $head = substr $raw, 0, $end;
    my $body = substr $raw, $end + 4;

    my @lines = split /\r\n/, $head;
    my $status_line = shift @lines // '';
    $res{status} = $1 if $status_line =~ m{^HTTP/\d\.\d\s+(\d{3})};

    for my $line (@lines) {
        next unless $line =~ /^([^:]+):\s*(.*?)\s*$/;
        my ($k, $v) = (lc $1, $2);
        $res{headers}{$k} = exists $res{headers}{$k}
            ? "$res{headers}{$k}, $v" : $v;
    }

    if (($res{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $decoded .= substr $body, 0, $len, '';
            $body =~ s/^\r\n//;
        }
        $body = $decoded;
    }

    $res{body} = $body;
    return \%res;
}


# --- payload helpers ---

sub encode_json {
    my ($data) = @_;
    return JSON::PP->new->utf8->canonical->allow_nonref->encode($data);
}

sub urlencode {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub gzip_bytes {
    my ($data) = @_;
    require IO::Compress::Gzip;
    my $out;
    IO::Compress::Gzip::gzip(\$data => \$out)
        or croak "gzip failed: "
            . do { no warnings 'once'; $IO::Compress::Gzip::GzipError };
    return $out;
}

sub b64 {
    my ($data) = @_;
    require MIME::Base64;
    return MIME::Base64::encode_base64($data, '');
}

# "YYYY-MM-DDTHH:MM:SS.mmmZ" -> milliseconds since the epoch (undef if not
# in exactly that format)
sub iso_ms {
    my ($s) = @_;
    return undef unless defined $s && !ref $s
        && $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$/;
    require Time::Local;
    my $sec = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1);
    return $sec * 1000 + $7;
}

# milliseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.mmmZ"
sub ms_iso {
    my ($ms) = @_;
    my $sec = int($ms / 1000);
    my @t = gmtime $sec;
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02d.%03dZ',
        $t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0], $ms - $sec * 1000;
}


sub DESTROY {
    my ($self) = @_;

    # forked children inherit the object: only its owner stops nginx
    return unless $self->{owner} && $$ == $self->{owner};
    return unless $self->{running};

    local ($?, $!, $@);
    $self->{running} = 0;
    kill 'QUIT', $self->{pid};
    _wait_gone($self->{pid}, 5) or $self->_kill_hard;
}


1;
