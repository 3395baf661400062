# perl: hashes, regexes, processes, modules.
/usr/bin/perl -e '
use strict; use warnings; use POSIX qw(floor); use Digest::MD5 qw(md5_hex); use File::Find; use File::Temp qw(tempdir);
my %h = map { $_ => $_ * 2 } 1..5; print join(",", map { "$_=$h{$_}" } sort keys %h), "\n";
my $s = "The quick brown fox"; my @w = ($s =~ /(\w+)/g); print scalar(@w), " ", lc($w[-1]), "\n";
(my $t = $s) =~ s/(\w+)/\u\L$1/g; print "$t\n"; print floor(7.9), " ", sprintf("%.3f", 2/3), "\n";
print md5_hex("veil"), "\n";
my $dir = tempdir(DIR => $ENV{D}, CLEANUP => 1);
for my $n (1..3) { open(my $f, ">", "$dir/f$n") or die; print $f "x" x $n; close $f }
my @found; find(sub { push @found, $_ if -f }, $dir); print join(" ", sort @found), "\n";
my $pid = fork(); if ($pid == 0) { exit 5 } waitpid($pid, 0); print $? >> 8, "\n";
open(my $p, "-|", "/bin/echo", "from", "pipe") or die; print scalar(<$p>); close $p;
pipe(my $r, my $w) or die; if (!fork()) { close $r; print $w "via pipe\n"; exit 0 } close $w; print scalar(<$r>); wait;
my @sorted = sort { $b <=> $a } (3, 11, 2); print "@sorted\n";
local $SIG{ALRM} = sub { print "alarm\n" }; alarm 1; select(undef, undef, undef, 1.5);
print "done\n";
'
