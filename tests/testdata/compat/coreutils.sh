# coreutils: text tools, files and their metadata, checksums.
seq 1 1000 > n
sort -rn n | head -3; sort -R --random-source=n n | sort -n | tail -1
shuf -n 3 --random-source=n n | wc -l
printf 'b 2\na 1\nc 3\na 4\n' > kv
sort -k1,1 -s kv | uniq -c -w1 | tr -s ' '
cut -d' ' -f2 kv | paste -sd+
join <(sort kv) <(printf 'a x\nb y\n') | head
sha256sum n | cut -c1-16; md5sum n | cut -c1-16; sha1sum n | cut -c1-16; b2sum n | cut -c1-16
base64 n | head -c 40; echo; base64 n | base64 -d | cmp - n && echo base64 round trip
od -An -tx1 -N8 n; printf 'hello' | xxd 2>/dev/null | head -1 || true
dd if=n of=part bs=100 skip=2 count=3 status=none; wc -c < part
split -l 300 n piece.; ls piece.* | tr '\n' ' '; echo; cat piece.* | cmp - n && echo split ok
tac n | head -2; nl -ba kv | tr -s ' \t' ' '; fold -w 3 <<< abcdefgh; echo abc | rev
comm -12 <(seq 1 10 | sort) <(seq 5 15 | sort) | paste -sd,
expr 6 \* 7; factor 360; numfmt --to=iec 1048576; printf '%05.1f|%x|%s\n' 3.14159 255 str
truncate -s 10k sparse; stat -c '%s %F' sparse; du -b sparse | cut -f1
ln -s n link; readlink link; readlink -f link | xargs basename; ln n hard; stat -c %h n
touch -d '2001-02-03 04:05:06 UTC' old; stat -c %Y old; date -u -d @981173106 +%FT%T
mkdir -p a/b/c; install -m 640 n a/b/c/inst; stat -c '%a %s' a/b/c/inst
chmod 751 a; stat -c %A a; rm -r a; test -e a || echo removed
mktemp -p . tmp.XXXXXX | grep -c 'tmp\.'
env -i A=1 B=2 /usr/bin/env | sort
tee t1 t2 < kv > /dev/null; cat t1 t2 | wc -l
echo "héllo wörld" | wc -m; echo ÀÉÎ | tr '[:upper:]' '[:lower:]' 2>/dev/null | wc -c
id -u; id -g; whoami; basename /a/b/c.txt .txt; dirname /a/b/c.txt; pwd | xargs basename >/dev/null && echo pwd ok
sleep 0.1; timeout 5 true && echo timeout ok; timeout 0.2 sleep 5; echo "timeout $?"
yes | head -3; true; false || echo "false $?"; nproc >/dev/null && echo nproc ok
