package Faults;

# The fault suite's harness (t/faults/*.t): nginx with the capture module
# and PostHog stand-ins, a bounded load of uniquely identified events,
# the faults, and the tally: of the events the clients got 200 for, how
# many reached each destination, how many twice, how many never.
#
#   use lib "$FindBin::Bin/../lib";
#   use Faults;
#   Faults::plan_or_skip();                 # CAPTURE_MODULE, node
#   my $run = Faults::Run->new(name => 's1 memory', spool => undef,
#       dests => { ph => 'max_in_flight 2;' }, workers => 2);
#   $run->standin('ph')->refuse;
#   my $load = $run->load(events => 2000, per_request => 10, duration => 3);
#   ... faults, while the load runs ...
#   $load->wait;
#   $run->deliveries(timeout => 30);        # until all accepted arrived
#   $run->check(dup_allow => 0);            # tally: TAP lines, report
#   $run->done;
#
# Knobs:
#   Faults::long()          FAULTS_LONG=1: the long form (30 s outages,
#                           bigger loads, 20 reloads, the 1M backlog)
#   L($short, $long)        the value for the form being run
#   Faults::spool_support() (1) or (0, why): whether this nginx and
#                           module know capture_spool (a conf test with the
#                           directive, cached); only 'unknown directive
#                           "capture_spool"' counts as not known
#   FAULTS_CONFIG=memory|spool  only that configuration (see configs())
#   FAULTS_SPOOL_DRYRUN=1   see dry_run()
#   FAULTS_REPORT=FILE      every tally (and every skip) is also
#                           appended to FILE, one line (see report_line)
#
# The load (Faults::Load, forked clients): each event has its own uuid
# (a v7-shaped string: run id, scenario, client, phase, sequence) and
# the distinct_id "faults-SCENARIO-CLIENT"; requests of `per_request`
# events go to /ingest/batch/, spread evenly over `duration` seconds,
# one connection each.  A client behaves as the SDKs do: a 503, 502,
# 504, 429, no answer or a connection error is retried with backoff
# (100 ms doubling to max_backoff, at least Retry-After) for up to
# `retry_for` seconds, then given up; an event counts as accepted when
# a request that carried it was answered 200.  Each attempt is one line
# in DIR/load-PHASE-CLIENT.txt, so the progress can be read while it
# runs.
#
# The deliveries (Faults::Sink, one per stand-in): the uuids in the
# bodies of the requests the stand-in answered 2xx, counted per uuid,
# read incrementally from its record file (cheap enough for 1M events),
# one body in ten checked event by event against what was sent.
#
# Also: Faults::Spool (segment files: read, cut, flip bytes) and
# Faults::Rss (the workers' resident memory, sampled in the background).

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use IO::Select;
use IO::Socket::IP;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);

use CaptureTest ();
use StandIn ();

our @EXPORT = qw(L);

my $JSON = JSON::PP->new->utf8->canonical;

sub long { $ENV{FAULTS_LONG} ? 1 : 0 }

sub L { my ($short, $long) = @_; return long() ? $long : $short }

sub plan_or_skip {
    Test::More::plan(skip_all => 'set CAPTURE_MODULE to the absolute path '
        . 'of ngx_http_capture_module.so') unless $ENV{CAPTURE_MODULE};
    Test::More::plan(skip_all => 'node is not installed')
        unless grep { -x "$_/node" } split /:/, $ENV{PATH} // '';
}

# Does nginx know capture_spool?  (1) or (0, why); cached per process.
my @spool_support;

sub spool_support {
    return @spool_support if @spool_support;

    my $t = CaptureTest->new;
    $t->write_conf(<<'EOF');
capture_spool %%DIR%%/spool;
server {
    listen 127.0.0.1:%%PORT%%;
    location / { return 204; }
}
EOF
    my ($ok, $out) = $t->conf_test;
    if (!$ok && $out =~ /unknown directive "capture_spool"/) {
        @spool_support = (0, 'capture_spool is not implemented yet '
            . '(nginx -t: unknown directive "capture_spool")');
    } else {
        # known; a conf test that fails for another reason is left to the
        # scenarios, which then fail with nginx's own message
        Test::More::note("capture_spool conf test failed: $out") unless $ok;
        @spool_support = (1);
    }
    return @spool_support;
}

# skip_all (in a test file or a subtest) unless the spool is there
sub need_spool {
    my ($label) = @_;
    my ($ok, $why) = spool_support();
    return if $ok || dry_run();
    report_skip($label, $why) if defined $label;
    Test::More::plan(skip_all => $why);
}

# FAULTS_SPOOL_DRYRUN=1 (debugging the harness only): the spool
# scenarios run without a capture_spool line instead of being skipped
# (they then fail: that is the loss the spool is there to remove)
sub dry_run { $ENV{FAULTS_SPOOL_DRYRUN} ? 1 : 0 }

# The configurations scenarios 1-4 and 9 run in: [name, spool params or
# undef]; both are listed, the spool one is skipped in its subtest.
# FAULTS_CONFIG=memory or spool runs only that one.
sub configs {
    my (%o) = @_;
    my @c = (['memory', undef], ['spool', $o{spool} // 'max_size=64m sync=100ms']);
    @c = grep { $_->[0] eq $ENV{FAULTS_CONFIG} } @c if $ENV{FAULTS_CONFIG};
    return @c;
}


# --- helpers on processes ---

sub alive {
    my ($pid) = @_;
    waitpid $pid, WNOHANG;
    return 0 unless kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

# the children of $master: [[pid, title], ...]
sub children {
    my ($master) = @_;
    my @w;
    opendir my $d, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // '';
        close $fh;
        # pid (comm) state ppid ...
        next unless $stat =~ /^\d+ \(.*\) (\S) (\d+) /s && $2 == $master && $1 ne 'Z';
        open my $cf, '<', "/proc/$pid/cmdline" or next;
        my $title = do { local $/; <$cf> } // '';
        close $cf;
        $title =~ s/\0+$//;
        $title =~ s/\0/ /g;
        push @w, [$pid, $title];
    }
    closedir $d;
    return sort { $a->[0] <=> $b->[0] } @w;
}

# VmRSS of $pid in kB (undef when gone); in list context (VmRSS,
# RssAnon, RssFile)
sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return;
    my %v;
    while (<$fh>) {
        $v{$1} = $2 if /^(VmRSS|RssAnon|RssFile):\s+(\d+)\s+kB/;
    }
    close $fh;
    return unless defined $v{VmRSS};
    return wantarray ? @v{qw(VmRSS RssAnon RssFile)} : $v{VmRSS};
}

# every [path, value] of a JSON tree whose key matches $re
sub find_keys {
    my ($tree, $re, $path) = @_;
    $path //= '';
    my @found;
    if (ref $tree eq 'HASH') {
        for my $k (sort keys %$tree) {
            my $p = $path eq '' ? $k : "$path.$k";
            push @found, [$p, $tree->{$k}] if $k =~ $re && !ref $tree->{$k};
            push @found, find_keys($tree->{$k}, $re, $p);
        }
    } elsif (ref $tree eq 'ARRAY') {
        push @found, find_keys($tree->[$_], $re, "$path\[$_\]") for 0 .. $#$tree;
    }
    return @found;
}


# --- one scenario's nginx and stand-ins ---

package Faults::Run;

use Carp qw(croak);
use Time::HiRes qw(sleep time);

# new(name => 's1 memory', scenario => 1, spool => PARAMS | undef,
#     dests => {name => 'extra parameters;', ...}, workers => 2,
#     http => 'more http directives', drain_timeout => '10s')
# Each destination gets flush_interval 100ms, retry_delay 100ms and
# retry_max_delay 1s unless its parameters set them.
sub new {
    my ($class, %o) = @_;
    my $self = bless {
        name     => $o{name} // 'faults',
        scenario => $o{scenario} // 0,
        spool    => $o{spool},
        workers  => $o{workers} // 2,
        loads    => [],
        t0       => time,
    }, $class;

    my $t = $self->{t} = CaptureTest->new;
    my $dests = $o{dests} // { ph => '' };
    my @names = sort keys %$dests;
    $self->{names} = \@names;

    my $http = '';
    if (defined $self->{spool} && !Faults::dry_run()) {
        # the module makes the directory
        $http .= "capture_spool %%DIR%%/spool $self->{spool};\n";
    }
    $http .= 'capture_drain_timeout ' . ($o{drain_timeout} // '10s') . ";\n";
    $http .= ($o{http} // '') . "\n";
    for my $n (@names) {
        my $s = $self->{standins}{$n} = StandIn->new(dir => $t->dir);
        $self->{sinks}{$n} = Faults::Sink->new($s);
        my $url = $s->url;
        # the suite's defaults, unless the scenario sets them
        my %def = (flush_interval => '100ms', retry_delay => '100ms',
                   retry_max_delay => '1s');
        my $extra = $dests->{$n} // '';
        delete $def{$1} while $extra =~ /(?:^|;)\s*(\w+)/g;
        my $params = join '', map { "    $_ $def{$_};\n" } sort keys %def;
        $http .= <<"EOF";
capture_destination $n {
    type posthog;
    url $url;
$params    $extra
}
EOF
    }
    $http .= <<"EOF";
server {
    listen 127.0.0.1:%%PORT%%;
    client_max_body_size 50m;
    location /ingest/ { capture @names; }
    location = /status { capture_status; }
}
EOF
    $t->write_conf($http, workers => $self->{workers});
    return $self;
}

sub t        { $_[0]{t} }
sub dir      { $_[0]{t}->dir }
sub names    { @{$_[0]{names}} }
sub standin  { $_[0]{standins}{$_[1]} // croak "no stand-in $_[1]" }
sub sink     { $_[0]{sinks}{$_[1]} // croak "no sink $_[1]" }
sub spooled  { defined $_[0]{spool} }

sub start {
    my ($self) = @_;
    $self->{t}->start;
    $self->{master} = $self->{t}->pid;
    return $self;
}

sub master { $_[0]{t}->pid }

# the worker processes of the running master: [[pid, title], ...]
sub workers {
    my ($self) = @_;
    my $m = $self->master or return;
    return grep { $_->[1] =~ /worker process/ } Faults::children($m);
}

sub draining {
    my ($self) = @_;
    return grep { $_->[1] =~ /shutting down/ } $self->workers;
}

# waits (up to $secs) until no worker is shutting down; true if none is
sub wait_drained {
    my ($self, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless $self->draining;
        sleep 0.1;
    }
    return !$self->draining;
}

# the status JSON (undef if it cannot be had)
sub status {
    my ($self) = @_;
    my $r = eval { $self->{t}->request(path => '/status', timeout => 5) };
    return undef unless $r && $r->{status} == 200;
    return eval { $JSON->decode($r->{body}) };
}

# QUIT and wait for the master to be gone (CaptureTest's stop)
sub quit {
    my ($self) = @_;
    my $t0 = time;
    $self->{t}->stop;
    return time - $t0;
}

# starts a load (see Faults::Load) against this nginx
sub load {
    my ($self, %o) = @_;
    my $load = Faults::Load->start(
        port     => $self->{t}->port,
        dir      => $self->dir,
        scenario => $self->{scenario},
        phase    => scalar @{$self->{loads}},
        %o);
    push @{$self->{loads}}, $load;
    return $load;
}

# every event accepted by the loads so far: {uuid => 1}
sub accepted {
    my ($self) = @_;
    my %acc;
    for my $l (@{$self->{loads}}) {
        my $a = $l->accepted;
        @acc{keys %$a} = values %$a;
    }
    return \%acc;
}

# Waits until every accepted event reached each destination of $dests
# (default all), for at most $timeout s, then $settle s more for late
# duplicates.  Returns the seconds it took to have them all (undef if
# not within the timeout).
sub deliveries {
    my ($self, %o) = @_;
    my @names = @{$o{dests} // $self->{names}};
    my $timeout = $o{timeout} // 60;
    my $settle = $o{settle} // Faults::L(0.5, 2);
    my $acc = $o{accepted} // $self->accepted;

    my $t0 = time;
    my %missing;
    for my $n (@names) {
        my $sink = $self->{sinks}{$n};
        $sink->poll;
        my $c = $sink->counts;
        $missing{$n} = { map { $_ => 1 } grep { !$c->{$_} } keys %$acc };
    }
    my $poll = keys(%$acc) > 100_000 ? 1 : 0.1;
    my $took;
    for (;;) {
        my $left = 0;
        for my $n (@names) {
            my $new = $self->{sinks}{$n}->poll;
            delete @{$missing{$n}}{@$new} if @$new;
            $left += keys %{$missing{$n}};
        }
        if (!$left) {
            $took = time - $t0;
            $self->{t_end} = time;
            last;
        }
        last if time - $t0 > $timeout;
        sleep $poll;
    }
    sleep $settle;
    $self->{sinks}{$_}->poll for @names;
    return $took;
}

# The tally of destination $name against the accepted events:
# {accepted, delivered, duplicates, lost, unacked, foreign, lost_uuids}
sub tally {
    my ($self, $name, $acc) = @_;
    $acc //= $self->accepted;
    my $c = $self->{sinks}{$name}->counts;
    my %r = (accepted => scalar keys %$acc, delivered => 0, duplicates => 0,
             lost => 0, unacked => 0, foreign => 0);
    my @lost;
    for my $u (keys %$acc) {
        if ($c->{$u}) { $r{delivered}++ } else { push @lost, $u }
    }
    $r{lost} = @lost;
    $r{lost_uuids} = [sort @lost];
    my %mine = map { ($_->prefix => 1) } @{$self->{loads}};
    for my $u (keys %$c) {
        $r{duplicates} += $c->{$u} - 1;
        next if $acc->{$u};
        # delivered, but no client was told 200 (an answer lost, or given
        # up): the client retried it or gave up, neither a loss
        if ($mine{substr $u, 0, 15}) { $r{unacked}++ } else { $r{foreign}++ }
    }
    return \%r;
}

# What the clients saw, summed over the loads
sub client_stats {
    my ($self) = @_;
    my %s;
    for my $l (@{$self->{loads}}) {
        my $x = $l->stats;
        $s{$_} += $x->{$_} for keys %$x;
    }
    return \%s;
}

# The TAP lines and the report of this scenario, per destination:
#   lost == 0, duplicates <= dup_allow (default 1% of accepted), nothing
#   foreign, every event eventually accepted (unless all_accepted => 0).
# tail => SECS goes into the report line; time => SECS replaces the
# scenario's wall time.  Returns the tallies {name => tally}.
sub check {
    my ($self, %o) = @_;
    my @names = @{$o{dests} // $self->{names}};
    my $acc = $self->accepted;
    # events the scenario destroyed on purpose (a damaged spool record)
    delete @{$acc}{keys %{$o{exclude}}} if $o{exclude};
    my $cs = $self->client_stats;
    # the scenario's time: from its start to the last event delivered
    my $secs = $o{time} // (($self->{t_end} // time) - $self->{t0});
    my %tallies;

    local $Test::Builder::Level = $Test::Builder::Level + 1;

    if ($o{all_accepted} // 1) {
        Test::More::is($cs->{gave_up} // 0, 0,
            "$self->{name}: no client gave up (every event answered 200 in the end)");
    }
    Test::More::is($cs->{rejected} // 0, 0,
        "$self->{name}: no request refused for good (4xx)")
        or Test::More::diag('statuses: ' . join ' ', map { "$_=$cs->{$_}" } sort keys %$cs);
    Test::More::cmp_ok(scalar keys %$acc, '>', 0, "$self->{name}: events were accepted");

    for my $n (@names) {
        my $r = $tallies{$n} = $self->tally($n, $acc);
        my $label = @names > 1 ? "$self->{name} [$n]" : $self->{name};
        my $allow = $o{dup_allow} // int($r->{accepted} / 100);
        $allow = $allow->{$n} if ref $allow eq 'HASH';
        Faults::report_line($label, $r, $secs, $cs, $o{tail});
        Test::More::is($r->{lost}, 0, "$label: lost = 0 (of $r->{accepted} accepted)")
            or Test::More::diag('lost, the first ones: '
                . join(' ', @{$r->{lost_uuids}}[0 .. ($r->{lost} > 10 ? 9 : $r->{lost} - 1)]));
        Test::More::cmp_ok($r->{duplicates}, '<=', $allow,
            "$label: duplicates $r->{duplicates} <= $allow");
        Test::More::is($r->{foreign}, 0, "$label: nothing delivered that was never sent");
        my $pr = $self->{sinks}{$n}->problems;
        Test::More::is(scalar @$pr, 0, "$label: the events sampled are the events sent")
            or Test::More::diag(join "\n", @{$pr}[0 .. ($#$pr > 9 ? 9 : $#$pr)]);
    }
    return \%tallies;
}

# done() of CaptureTest, once every load is over
sub done {
    my ($self, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $_->wait(5) for @{$self->{loads}};

    $self->{t}->done(%o);
    $_->stop for values %{$self->{standins}};
}


package Faults;

# one line per destination of a scenario, as a TAP comment (and appended
# to $FAULTS_REPORT when set): name accepted delivered duplicates lost
# time, then what else happened (unacked: delivered but never answered
# 200 to a client; tail: seconds from the end of the load, or from the
# fault's end when the load ended before, to the last event delivered;
# client[...]: the attempts the clients saw fail)
sub report_line {
    my ($label, $r, $secs, $cs, $tail) = @_;
    my $extra = '';
    $extra .= sprintf ' tail=%.1fs', $tail if defined $tail;
    $extra .= " unacked=$r->{unacked}" if $r->{unacked};
    if ($cs) {
        my @st = map { "$_=$cs->{$_}" } grep { $_ =~ /^(\d+|conn|gave_up)$/ && $_ ne '200' } sort keys %$cs;
        $extra .= " client[" . join(' ', @st) . "]" if @st;
    }
    my $line = sprintf('%-30s accepted %8d  delivered %8d  duplicates %6d  lost %6d  %6.1f s%s',
        $label, @{$r}{qw(accepted delivered duplicates lost)}, $secs, $extra);
    Test::More::diag($line);
    _report("$line\n");
}

# a scenario skipped: a line in the report
sub report_skip {
    my ($label, $why) = @_;
    _report(sprintf "%-30s skipped: %s\n", $label, $why);
}

sub _report {
    my ($text) = @_;
    my $file = $ENV{FAULTS_REPORT} or return;
    open my $fh, '>>', $file or return;
    print {$fh} $text;
    close $fh;
}


# --- the load: forked clients that retry as the SDKs do ---

package Faults::Load;

use Carp qw(croak);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# start(port, dir, events => N, per_request => 10, clients => 4,
#       duration => SECS (spread over; 0: as fast as possible),
#       pad => BYTES (a "pad" property of that size in every event),
#       retry_for => SECS (default 120), max_backoff => SECS (default 2),
#       timeout => SECS (one request, default 10), scenario, phase,
#       path => '/ingest/batch/')
sub start {
    my ($class, %o) = @_;
    my $self = bless {
        port        => $o{port} // croak('port'),
        dir         => $o{dir} // croak('dir'),
        events      => $o{events} // 1000,
        per_request => $o{per_request} // 10,
        clients     => $o{clients} // 4,
        duration    => $o{duration} // 0,
        pad         => $o{pad} // 0,
        retry_for   => $o{retry_for} // 120,
        max_backoff => $o{max_backoff} // 2,
        timeout     => $o{timeout} // 10,
        scenario    => $o{scenario} // 0,
        phase       => $o{phase} // 0,
        path        => $o{path} // '/ingest/batch/',
        pids        => {},
        owner       => $$,
    }, $class;
    $self->{run} = int(rand(2**32)) ^ ($$ << 8) & 0xffffffff;
    $self->{prefix} = sprintf '%08x-%04x-7', $self->{run} & 0xffffffff,
        ($self->{scenario} * 256 + $self->{phase}) & 0xffff;
    $self->{nreq} = int(($self->{events} + $self->{per_request} - 1) / $self->{per_request});
    $self->{t0} = time;

    for my $c (0 .. $self->{clients} - 1) {
        my $file = $self->_file($c);
        unlink $file;
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            eval { $self->_client($c, $file) };
            POSIX::_exit($@ ? 1 : 0);
        }
        $self->{pids}{$pid} = $c;
    }
    return $self;
}

sub prefix { $_[0]{prefix} }
sub t0     { $_[0]{t0} }

sub _file { "$_[0]{dir}/load-$_[0]{phase}-$_[1].txt" }

# uuid of event $seq of client $c: prefix + client, phase, sequence
sub uuid {
    my ($self, $c, $seq) = @_;
    return sprintf '%s%03x-8%03x-%012x', $self->{prefix}, $c & 0xfff,
        $self->{phase} & 0xfff, $seq;
}

sub _body {
    my ($self, $c, $first, $n) = @_;
    my $did = "faults-$self->{scenario}-$c";
    my $pad = $self->{pad} ? ',"pad":"' . ('x' x $self->{pad}) . '"' : '';
    my @ev;
    for my $seq ($first .. $first + $n - 1) {
        push @ev, sprintf '{"uuid":"%s","event":"fault_event","distinct_id":"%s",'
            . '"properties":{"seq":%d,"client":%d%s}}', $self->uuid($c, $seq), $did, $seq, $c, $pad;
    }
    return '{"api_key":"phc_faults","batch":[' . join(',', @ev) . ']}';
}

# the child: its share of the requests, paced, each retried until 200,
# a refusal, or retry_for; one line per attempt:
#   STATUS CLIENT FIRST COUNT ATTEMPT T   (STATUS 0: no answer)
#   gave_up CLIENT FIRST COUNT ATTEMPT T | rejected ...
sub _client {
    my ($self, $c, $file) = @_;
    open my $out, '>>', $file or die "$file: $!";
    $out->autoflush(1);
    $SIG{PIPE} = 'IGNORE';
    srand($$ ^ time);

    my ($nreq, $per) = @{$self}{qw(nreq per_request)};
    for (my $i = $c; $i < $nreq; $i += $self->{clients}) {
        my $first = int($i / $self->{clients}) * $per;
        my $n = $per;
        my $global_last = ($i + 1) * $per;
        $n -= $global_last - $self->{events} if $global_last > $self->{events};
        last if $n <= 0;

        if ($self->{duration}) {
            my $at = $self->{t0} + $self->{duration} * $i / $nreq;
            my $wait = $at - time;
            sleep $wait if $wait > 0;
        }

        my $body = $self->_body($c, $first, $n);
        my $start = time;
        my $backoff = 0.1;
        for (my $attempt = 1; ; $attempt++) {
            my ($status, $retry_after, $why) = $self->_post($body);
            printf {$out} "%s %d %d %d %d %.3f%s\n", $status, $c, $first, $n, $attempt,
                time - $self->{t0}, $why ? " $why" : '';
            last if $status == 200;
            if ($status != 0 && $status !~ /^(429|502|503|504)$/) {
                printf {$out} "rejected %d %d %d %d %.3f\n", $c, $first, $n, $attempt, time - $self->{t0};
                last;
            }
            if (time - $start > $self->{retry_for}) {
                printf {$out} "gave_up %d %d %d %d %.3f\n", $c, $first, $n, $attempt, time - $self->{t0};
                last;
            }
            # full jitter, as posthog-js does, never under Retry-After
            my $d = $backoff / 2 + rand($backoff / 2);
            $d = $retry_after if defined $retry_after && $retry_after > $d
                && $retry_after <= $self->{max_backoff} * 5;
            sleep $d;
            $backoff *= 2;
            $backoff = $self->{max_backoff} if $backoff > $self->{max_backoff};
        }
    }
    close $out;
}

# one POST on its own connection: (status, Retry-After, why) with status
# 0 when there is no answer
sub _post {
    my ($self, $body) = @_;
    my $timeout = $self->{timeout};
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $self->{port},
        Proto => 'tcp', Timeout => $timeout);
    return (0, undef, 'connect') unless $s;
    binmode $s;
    my $req = "POST $self->{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n" . $body;
    my $sel = IO::Select->new($s);
    my $off = 0;
    my $deadline = time + $timeout;
    while ($off < length $req) {
        last unless $sel->can_write($deadline - time);
        my $w = syswrite $s, $req, 262144, $off;
        if (!defined $w) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            last;
        }
        $off += $w;
    }
    # the answer may come before the whole body was taken: read anyway
    my $raw = '';
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $r = sysread $s, my $buf, 65536;
        if (!defined $r) {
            next if $! == EINTR || $! == EAGAIN;
            last;
        }
        last if $r == 0;
        $raw .= $buf;
    }
    close $s;
    return (0, undef, $off < length $req ? 'send' : 'no-answer')
        unless $raw =~ m{^HTTP/1\.\d (\d{3})};
    my $status = $1;
    my ($ra) = $raw =~ /\r\nRetry-After:\s*(\d+)\r\n/i;
    return ($status, $ra, undef);
}

# true once every client is done; waits up to $secs (default: until done)
sub wait {
    my ($self, $secs) = @_;
    return 1 unless $self->{owner} == $$;
    my $deadline = defined $secs ? time + $secs : undef;
    while (%{$self->{pids}}) {
        for my $pid (keys %{$self->{pids}}) {
            my $w = waitpid $pid, WNOHANG;
            delete $self->{pids}{$pid} if $w == $pid || $w < 0;
        }
        last unless %{$self->{pids}};
        if (defined $deadline && time > $deadline) {
            kill 'TERM', keys %{$self->{pids}};
            sleep 0.2;
            waitpid $_, WNOHANG for keys %{$self->{pids}};
            $self->{pids} = {};
            Test::More::diag('load: clients still running were stopped');
            return 0;
        }
        sleep 0.05;
    }
    $self->{elapsed} //= time - $self->{t0};
    return 1;
}

sub running { scalar %{$_[0]{pids}} }
sub elapsed { $_[0]{elapsed} // time - $_[0]{t0} }

# the attempt lines so far: [[status, client, first, count, attempt, t], ...]
sub _lines {
    my ($self) = @_;
    my @l;
    for my $c (0 .. $self->{clients} - 1) {
        open my $fh, '<', $self->_file($c) or next;
        while (my $line = <$fh>) {
            next unless $line =~ /\n$/;
            push @l, [split ' ', $line];
        }
        close $fh;
    }
    return \@l;
}

# {uuid => 1} for the events of requests answered 200 so far; with
# $before, only those answered before that many seconds after the start
sub accepted {
    my ($self, $before) = @_;
    my %acc;
    for my $l (@{$self->_lines}) {
        next unless $l->[0] eq '200';
        next if defined $before && $l->[5] > $before;
        $acc{$self->uuid($l->[1], $_)} = 1 for $l->[2] .. $l->[2] + $l->[3] - 1;
    }
    return \%acc;
}

# {status or conn|no-answer|send => attempts, gave_up => requests,
#  rejected => requests, requests => N}
sub stats {
    my ($self) = @_;
    my %s = (requests => $self->{nreq});
    for my $l (@{$self->_lines}) {
        if ($l->[0] eq 'gave_up' || $l->[0] eq 'rejected') {
            $s{$l->[0]}++;
        } elsif ($l->[0] eq '0') {
            $s{conn}++;
        } else {
            $s{$l->[0]}++;
        }
    }
    return \%s;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    local ($?, $!, $@);
    kill 'TERM', keys %{$self->{pids}} if %{$self->{pids}};
}


# --- what a stand-in delivered, per uuid ---

package Faults::Sink;

use Carp qw(croak);

# new($standin, verify_every => N): one delivered body in N (default 10)
# is checked event by event (see _verify)
sub new {
    my ($class, $standin, %o) = @_;
    return bless { s => $standin, record => $standin->{record}, offset => 0,
                   pending => {}, counts => {}, requests => 0,
                   verify_every => $o{verify_every} // 10 }, $class;
}

# reads what was recorded since the last call; returns the uuids newly
# delivered (one entry per delivery)
sub poll {
    my ($self) = @_;
    my @new;
    open my $fh, '<', $self->{record} or return \@new;
    binmode $fh;
    seek $fh, $self->{offset}, 0;
    my $data = do { local $/; <$fh> } // '';
    close $fh;
    my $end = rindex $data, "\n";
    return \@new if $end < 0;
    $self->{offset} += $end + 1;

    for my $line (split /\n/, substr($data, 0, $end)) {
        next if $line eq '';
        my $l = eval { $JSON->decode($line) } or next;
        if ($l->{type} eq 'request') {
            $self->{requests}++;
            my %r = map { $_ => $l->{$_} }
                qw(seq status t_ms t_answer_ms body_file hung closed incomplete);
            push @{$self->{reqs}}, \%r;
            if (defined $l->{status}) {
                push @new, $self->_delivered($l->{seq}, $l->{body_file}) if $l->{status} =~ /^2/;
            } elsif (!$l->{hung} && !$l->{closed} && !$l->{incomplete}) {
                $self->{pending}{$l->{seq}} = \%r;
            }
        } elsif ($l->{type} eq 'answer') {
            my $r = delete $self->{pending}{$l->{seq}} or next;
            $r->{status} = $l->{status};
            $r->{t_answer_ms} = $l->{t_answer_ms};
            push @new, $self->_delivered($l->{seq}, $r->{body_file})
                if defined $l->{status} && $l->{status} =~ /^2/;
        }
    }
    $self->{counts}{$_}++ for @new;
    return \@new;
}

sub _delivered {
    my ($self, $seq, $body_file) = @_;
    return () unless defined $body_file;
    my $path = "$self->{record}.d/$seq.$body_file";
    open my $fh, '<', $path or return ();
    binmode $fh;
    my $body = do { local $/; <$fh> } // '';
    close $fh;
    $self->_verify($seq, $body) if $self->{delivered_bodies}++ % $self->{verify_every} == 0;
    return $body =~ /"uuid":"([0-9a-f-]{36})"/g;
}

# One body in verify_every is parsed and each of its events checked against its
# uuid: the event the load made with it (name, distinct_id, seq,
# client), with the edge's $ip and a timestamp, under the load's token.
# What is wrong goes to problems().
sub _verify {
    my ($self, $seq, $body) = @_;
    my $j = eval { $JSON->decode($body) };
    my $bad = sub { push @{$self->{problems}}, "request $seq: $_[0]" };
    return $bad->('the body is not JSON') unless ref $j eq 'HASH';
    return $bad->('api_key ' . ($j->{api_key} // 'missing')) unless ($j->{api_key} // '') eq 'phc_faults';
    return $bad->('no batch') unless ref $j->{batch} eq 'ARRAY';
    for my $e (@{$j->{batch}}) {
        my ($scen, $c, $n) = ($e->{uuid} // '') =~ /^[0-9a-f]{8}-([0-9a-f]{2})[0-9a-f]{2}-7([0-9a-f]{3})-8[0-9a-f]{3}-([0-9a-f]{12})$/
            or next;    # not the load's (counted as foreign elsewhere)
        my $p = ref $e->{properties} eq 'HASH' ? $e->{properties} : {};
        my @why;
        push @why, 'event' unless ($e->{event} // '') eq 'fault_event';
        push @why, 'distinct_id' unless ($e->{distinct_id} // '') eq 'faults-' . hex($scen) . '-' . hex($c);
        push @why, 'seq' unless ($p->{seq} // -1) == hex $n;
        push @why, 'client' unless ($p->{client} // -1) == hex $c;
        push @why, '$ip' unless ($p->{'$ip'} // '') eq '127.0.0.1';
        push @why, 'timestamp' unless ($e->{timestamp} // '') =~ /^\d{4}-\d\d-\d\dT/;
        $bad->("event $e->{uuid}: " . join(', ', @why)) if @why;
    }
}

# what _verify found wrong, one line each
sub problems { $_[0]{problems} // [] }

# every request recorded so far, in order: {seq, status (undef: none
# yet or never), t_ms, t_answer_ms, body_file, hung, closed, incomplete}
# (copies; poll first)
sub reqs { [ map { +{%$_} } @{$_[0]{reqs} // []} ] }

# the first uuid in a request's body (undef if none)
sub first_uuid {
    my ($self, $r) = @_;
    return undef unless defined $r->{body_file};
    open my $fh, '<', "$self->{record}.d/$r->{seq}.$r->{body_file}" or return undef;
    binmode $fh;
    read $fh, my $head, 4096;
    close $fh;
    return $head =~ /"uuid":"([0-9a-f-]{36})"/ ? $1 : undef;
}

sub counts   { $_[0]{counts} }
sub requests { $_[0]{requests} }
sub distinct { scalar keys %{$_[0]{counts}} }


# --- spool files: reading and damaging them (nginx stopped) ---
#
# A segment, <dir>/<writer>-<16 hex>.seg, is a 32-byte file header, then
# records: a 16-byte header (magic "CRec", u32 LE payload length, u32
# CRC32C of the payload, u32 CRC32C of the first 12 header bytes) and the
# payload.

package Faults::Spool;

use Carp qw(croak);

my @CRC_TABLE = map {
    my $c = $_;
    $c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8;
    $c;
} 0 .. 255;

sub crc32c {
    my ($data) = @_;
    my $c = 0xffffffff;
    $c = $CRC_TABLE[($c ^ $_) & 0xff] ^ ($c >> 8) for unpack 'C*', $data;
    return $c ^ 0xffffffff;
}

# the segment files of $dir, oldest first (by name: writer, then number)
sub segments {
    my ($dir) = @_;
    opendir my $d, $dir or return;
    my @f = sort grep { /\.seg$/ } readdir $d;
    closedir $d;
    return map { "$dir/$_" } @f;
}

# {path, size, records => [{off, len, payload_ok, uuids}], end, stop}
# end: the offset after the last whole record; stop: why reading stopped
# there ('eof', 'torn', 'not a record header', 'header checksum')
sub read_segment {
    my ($path) = @_;
    open my $fh, '<', $path or croak "$path: $!";
    binmode $fh;
    my $data = do { local $/; <$fh> } // '';
    close $fh;

    my %seg = (path => $path, size => length $data, records => [], end => 32);
    my $off = 32;
    for (;;) {
        if ($off == length $data) { $seg{stop} = 'eof'; last }
        if ($off + 16 > length $data) { $seg{stop} = 'torn'; last }
        my ($magic, $len, $pcrc, $hcrc) = unpack 'a4 V V V', substr($data, $off, 16);
        if ($magic ne 'CRec') {
            # zeros after the last record (a file made longer in advance)
            # are the end, anything else is noted
            $seg{stop} = substr($data, $off) =~ /^\0*$/ ? 'eof' : 'not a record header';
            last;
        }
        if (crc32c(substr $data, $off, 12) != $hcrc) { $seg{stop} = 'header checksum'; last }
        if ($off + 16 + $len > length $data) { $seg{stop} = 'torn'; last }
        my $payload = substr $data, $off + 16, $len;
        push @{$seg{records}}, {
            off        => $off,
            len        => $len,
            payload_ok => crc32c($payload) == $pcrc ? 1 : 0,
            uuids      => [ $payload =~ /"uuid":"([0-9a-f-]{36})"/g ],
        };
        $off += 16 + $len;
        $seg{end} = $off;
    }
    return \%seg;
}

# cuts $seg's record $i in the middle of its payload (everything after
# it goes too); returns the uuids of the records cut
sub truncate_record {
    my ($seg, $i) = @_;
    my $r = $seg->{records}[$i] // croak "no record $i in $seg->{path}";
    truncate $seg->{path}, $r->{off} + 16 + int($r->{len} / 2)
        or croak "truncate $seg->{path}: $!";
    my @recs = @{$seg->{records}}[$i .. $#{$seg->{records}}];
    return map { @{$_->{uuids}} } @recs;
}

# inverts 4 bytes in the middle of record $i's payload; returns its uuids
sub flip_record {
    my ($seg, $i) = @_;
    my $r = $seg->{records}[$i] // croak "no record $i in $seg->{path}";
    croak "record $i of $seg->{path} is too short to damage" if $r->{len} < 8;
    my $at = $r->{off} + 16 + int($r->{len} / 2) - 2;
    open my $fh, '+<', $seg->{path} or croak "$seg->{path}: $!";
    binmode $fh;
    seek $fh, $at, 0;
    read $fh, my $bytes, 4;
    seek $fh, $at, 0;
    print {$fh} ($bytes ^ ("\xff" x 4));
    close $fh or croak "$seg->{path}: $!";
    return @{$r->{uuids}};
}


# --- the resident memory of the workers, sampled in the background ---

package Faults::Rss;

use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# start($master, $file, $interval): a child that writes "T PID KB" lines
sub start {
    my ($class, $master, $file, $interval) = @_;
    unlink $file;
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $out, '>>', $file or POSIX::_exit(1);
        $out->autoflush(1);
        my $t0 = time;
        while (getppid() == $parent) {
            for my $w (Faults::children($master)) {
                next unless $w->[1] =~ /worker process/;
                my ($kb, $anon, $file) = Faults::rss_kb($w->[0]) or next;
                printf {$out} "%.1f %d %d %d %d\n", time - $t0, $w->[0], $kb,
                    $anon // 0, $file // 0;
            }
            sleep($interval // 0.5);
        }
        POSIX::_exit(0);
    }
    return bless { pid => $pid, file => $file, owner => $$, t0 => time }, $class;
}

# {pid => max VmRSS kB} so far ($col 3: RssAnon, 4: RssFile); with
# $since, only the samples taken that many seconds after the start
sub max {
    my ($self, $col, $since) = @_;
    $col //= 2;
    my %max;
    open my $fh, '<', $self->{file} or return \%max;
    while (<$fh>) {
        my @f = split;
        next unless @f >= 5;
        next if defined $since && $f[0] < $since;
        my ($pid, $kb) = @f[1, $col];
        $max{$pid} = $kb if !defined $max{$pid} || $kb > $max{$pid};
    }
    close $fh;
    return \%max;
}

# seconds since the sampler started
sub elapsed { Time::HiRes::time() - $_[0]{t0} }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return $self;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    return $self;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    local ($?, $!, $@);
    $self->stop;
}

1;
