# grep: basic, extended, fixed, Perl regexes, recursion and binary files.
printf 'alpha\nbeta\ngamma\nAlpha beta\ndelta 42\n' > g
grep -n alpha g; grep -in alpha g; grep -c a g; grep -v a g; grep -w beta g
grep -E '^(beta|gamma)$' g; grep -F 'a b' g; grep -o '[0-9]\+' g; grep -P '\d{2}' g
grep -l alpha g /dev/null; grep -L zzz g; grep -m1 a g; grep -A1 gamma g; grep -B1 gamma g
mkdir -p r/s; cp g r/g1; cp g r/s/g2.txt; printf 'x\0y alpha\n' > r/bin
grep -r --include='*.txt' alpha r; grep -rl alpha r | sort; grep -c alpha r/bin; grep -a alpha r/bin | tr '\0' '@'
grep -q delta g && echo found; grep -q nothing g || echo "not found $?"; grep -s x nosuchfile; echo "missing $?"
seq 1 100000 | grep -c 7; echo ÄÖÜ | LC_ALL=C.UTF-8 grep -c 'Ö'
