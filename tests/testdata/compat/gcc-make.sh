# gcc and make: a small C project built, rebuilt and run.
mkdir proj; cd proj
cat > util.h <<'C'
int square(int);
C
cat > util.c <<'C'
#include "util.h"
int square(int x) { return x * x; }
C
cat > main.c <<'C'
#include <stdio.h>
#include <pthread.h>
#include "util.h"
static int total;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *worker(void *arg) { pthread_mutex_lock(&mu); total += square((int)(long)arg); pthread_mutex_unlock(&mu); return 0; }
int main(void) {
	pthread_t t[4];
	for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, worker, (void *)i);
	for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
	printf("total %d square %d\n", total, square(12));
	return 0;
}
C
printf 'CFLAGS = -O2 -Wall -pthread\nprog: main.o util.o\n\t$(CC) $(CFLAGS) -o $@ $^\n%%.o: %%.c util.h\n\t$(CC) $(CFLAGS) -c $<\nclean:\n\trm -f prog *.o\n.PHONY: clean\n' > Makefile
make -s -j2 && ./prog; make | sed 's/`//g; s/'"'"'//g'; touch util.c; make -s && echo rebuilt; ./prog
gcc -static -O1 -o sprog main.c util.c -pthread && ./sprog
echo 'int main(void) { return 42; }' | gcc -x c -o ret -; ./ret; echo "ret $?"
gcc -E -dM - < /dev/null | grep -c __x86_64__; make -s clean; ls
