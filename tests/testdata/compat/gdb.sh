# gdb in batch mode: breakpoints, a backtrace and variables of a debugged
# program (ptrace inside the sandbox).
cat > crash.c <<'C'
#include <stdio.h>
#include <stdlib.h>
int depth(int n) { if (n == 0) { volatile int *p = 0; return *p; } return depth(n - 1) + 1; }
int add(int a, int b) { return a + b; }
int main(void) { printf("%d\n", add(2, 3)); fflush(stdout); return depth(3); }
C
gcc -g -O0 -o crash crash.c
gdb -q -batch -nx -ex 'break add' -ex run -ex 'print a + b' -ex 'info args' -ex continue -ex 'bt' ./crash 2>&1 |
	grep -E '^(\$1|a =|b =|Program received|#[0-9])' | sed -E 's/0x[0-9a-f]+ in //; s/ at .*crash.c/ at crash.c/'
