// podshm: a System V shared memory segment as two containers of a pod
// share it (tests/pod_test.go). "podshm put KEY TEXT" creates segment KEY
// and writes TEXT into it; "podshm get KEY" prints what segment KEY holds.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv) {
	if (argc < 3 || (strcmp(argv[1], "put") && strcmp(argv[1], "get"))) {
		fprintf(stderr, "usage: podshm put KEY TEXT | get KEY\n");
		return 2;
	}
	key_t key = (key_t)strtol(argv[2], NULL, 0);
	int put = !strcmp(argv[1], "put");
	if (put && argc < 4) {
		fprintf(stderr, "podshm put: no text\n");
		return 2;
	}
	int id = shmget(key, 4096, put ? IPC_CREAT | 0666 : 0);
	if (id < 0) {
		perror("shmget");
		return 1;
	}
	char *p = shmat(id, NULL, 0);
	if (p == (char *)-1) {
		perror("shmat");
		return 1;
	}
	if (put)
		snprintf(p, 4096, "%s", argv[3]);
	else
		printf("%s\n", p);
	return shmdt(p) == 0 ? 0 : 1;
}
