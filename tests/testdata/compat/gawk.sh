# gawk: fields, arrays, functions, getline and system.
printf 'bob 30 nyc\nalice 25 sf\ncarol 35 nyc\ndave 28 la\n' > people
awk '{s += $2} END {print s, NR, s/NR}' people
awk '$3 == "nyc" {print $1}' people; awk -F' ' '{c[$3]++} END {n = asorti(c, k); for (i = 1; i <= n; i++) print k[i], c[k[i]]}' people
awk 'BEGIN {printf "%5.2f|%-6s|%03d|%x\n", 3.14159, "ab", 7, 255}'
awk '{print toupper(substr($1, 1, 1)) substr($1, 2), length($1)}' people
awk 'function fib(n) {return n < 2 ? n : fib(n-1) + fib(n-2)} BEGIN {print fib(20)}'
awk 'BEGIN {s = "a-b-c"; n = split(s, p, "-"); print n, p[3]; print gensub(/(b)/, "[\\1]", "g", s)}'
awk 'BEGIN {while (("echo from-cmd" | getline l) > 0) print "got", l; close("echo from-cmd")}'
awk 'BEGIN {r = system("exit 3"); print "system", r}'
awk 'BEGIN {print strftime("%Y-%m-%d", 0, 1)}'; awk 'BEGIN {srand(1); print int(rand() * 1000)}'
seq 1 100000 | awk '$1 % 7 == 0 {n++} END {print n}'
awk 'BEGIN {OFS = ","} {$1 = $1; print}' people | head -2
awk --version | head -1 | cut -d, -f1
