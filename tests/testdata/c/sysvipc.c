/*
 * System V IPC (svipc(7)): shared memory across fork and between
 * processes, attach flags, nattch and destruction after IPC_RMID;
 * semaphores (values, SEM_UNDO on exit, IPC_NOWAIT, blocking woken by
 * another process, GETPID/GETNCNT/GETZCNT, timeouts, EIDRM); message
 * queues (types, MSG_EXCEPT, MSG_NOERROR, E2BIG, IPC_NOWAIT, blocking,
 * msg_qbytes limits); permissions and errors. Only IPC_PRIVATE objects,
 * removed at the end, so a native run leaves the host's IPC namespace as
 * it was. Ids are never printed (they depend on the host).
 */
#include "veiltest.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

static int waitchild(pid_t pid)
{
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_shm(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int id = SYS(shmget(IPC_PRIVATE, 3 * pg + 100, IPC_CREAT | 0600));
	struct shmid_ds ds;
	SYS(shmctl(id, IPC_STAT, &ds));
	printf("shm: size=%zu nattch=%lu mode=%o key=%d\n", ds.shm_segsz,
	       (unsigned long)ds.shm_nattch, ds.shm_perm.mode & 0777,
	       ds.shm_perm.__key);
	CHECK(ds.shm_cpid == getpid());

	char *p = shmat(id, NULL, 0);
	CHECK(p != (void *)-1);
	CHECK(((uintptr_t)p % pg) == 0);
	for (int i = 0; i < 3 * pg + 100; i++)
		CHECK(p[i] == 0);
	strcpy(p, "parent");
	SYS(shmctl(id, IPC_STAT, &ds));
	printf("shm: attached nattch=%lu\n", (unsigned long)ds.shm_nattch);

	/* fork inherits the attachment: nattch counts it. */
	pid_t c = SYS(fork());
	if (c == 0) {
		struct shmid_ds d2;
		shmctl(id, IPC_STAT, &d2);
		if (d2.shm_nattch != 2 || strcmp(p, "parent") != 0)
			_exit(1);
		strcpy(p + 3 * pg, "child wrote the last page");
		_exit(0);
	}
	CHECK(waitchild(c) == 0);
	printf("shm: after fork: %s\n", p + 3 * pg);
	SYS(shmctl(id, IPC_STAT, &ds));
	printf("shm: child gone nattch=%lu lpid-is-child=%d\n",
	       (unsigned long)ds.shm_nattch, ds.shm_lpid == c);

	/* An unrelated process (fork + exec-like: a fresh attach by id). */
	c = SYS(fork());
	if (c == 0) {
		shmdt(p);
		char *q = shmat(id, NULL, SHM_RDONLY);
		if (q == (void *)-1 || strcmp(q, "parent") != 0)
			_exit(1);
		/* Read-only: mprotect may not make it writable. */
		if (mprotect(q, pg, PROT_READ | PROT_WRITE) == 0 || errno != EACCES)
			_exit(2);
		_exit(0);
	}
	CHECK(waitchild(c) == 0);

	/* A second attachment at a chosen (rounded) address. */
	char *want = mmap(NULL, 8 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(want != MAP_FAILED);
	CHECK(shmat(id, want + 1, 0) == (void *)-1 && errno == EINVAL);
	CHECK(shmat(id, want + 1, SHM_RND) == (void *)-1 && errno == EINVAL); /* busy */
	char *q = shmat(id, want + 1, SHM_RND | SHM_REMAP);
	CHECK(q == want);
	CHECK(strcmp(q, "parent") == 0);
	q[1] = 'A';
	CHECK(p[1] == 'A');
	CHECK(shmat(id, NULL, SHM_REMAP) == (void *)-1 && errno == EINVAL);
	SYS(shmctl(id, IPC_STAT, &ds));
	printf("shm: two attachments nattch=%lu\n", (unsigned long)ds.shm_nattch);
	CHECK(shmdt(q + pg) == -1 && errno == EINVAL);
	SYS(shmdt(q));
	CHECK(shmdt(q) == -1 && errno == EINVAL);

	/* IPC_RMID: still attached, so marked; attach by id still works. */
	SYS(shmctl(id, IPC_RMID, NULL));
	SYS(shmctl(id, IPC_STAT, &ds));
	printf("shm: removed dest=%d key=%d nattch=%lu\n",
	       !!(ds.shm_perm.mode & SHM_DEST), ds.shm_perm.__key,
	       (unsigned long)ds.shm_nattch);
	SYS(shmctl(id, SHM_LOCK, NULL));
	SYS(shmctl(id, IPC_STAT, &ds));
	printf("shm: locked=%d\n", !!(ds.shm_perm.mode & SHM_LOCKED));
	SYS(shmctl(id, SHM_UNLOCK, NULL));
	SYS(shmdt(p));
	CHECK(shmctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL);
	printf("shm: gone after last detach\n");

	/* Errors. */
	CHECK(shmget(IPC_PRIVATE, 0, 0600) == -1 && errno == EINVAL);
	CHECK(shmat(-1, NULL, 0) == (void *)-1 && errno == EINVAL);
	CHECK(shmctl(id, 999, NULL) == -1 && errno == EINVAL);
	id = SYS(shmget(IPC_PRIVATE, pg, 0400));
	CHECK(shmat(id, NULL, 0) != (void *)-1); /* root: CAP_IPC_OWNER */
	struct shminfo si;
	CHECK(shmctl(0, IPC_INFO, (struct shmid_ds *)&si) >= 0);
	printf("shm: shmmni=%lu shmmin=%lu\n", si.shmmni, si.shmmin);
	SYS(shmctl(id, IPC_RMID, NULL));
	printf("shm: ok\n");
}

static void test_sem(void)
{
	int id = SYS(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
	union semun arg;
	unsigned short vals[3] = {1, 0, 5};
	arg.array = vals;
	SYS(semctl(id, 0, SETALL, arg));
	printf("sem: vals %d %d %d\n", (int)semctl(id, 0, GETVAL), (int)semctl(id, 1, GETVAL),
	       (int)semctl(id, 2, GETVAL));
	CHECK(semctl(id, 0, GETPID) == getpid());

	struct sembuf op = {0, -1, IPC_NOWAIT};
	SYS(semop(id, &op, 1));
	CHECK(semop(id, &op, 1) == -1 && errno == EAGAIN);
	/* All or nothing: the second op would block, so the first doesn't apply. */
	struct sembuf two[2] = {{2, -1, 0}, {1, -1, IPC_NOWAIT}};
	CHECK(semop(id, two, 2) == -1 && errno == EAGAIN);
	CHECK(semctl(id, 2, GETVAL) == 5);

	/* A child blocks on semaphore 1 until the parent raises it. */
	pid_t c = SYS(fork());
	if (c == 0) {
		struct sembuf w = {1, -2, 0};
		if (semop(id, &w, 1) != 0)
			_exit(1);
		_exit(0);
	}
	while (semctl(id, 1, GETNCNT) != 1)
		usleep(1000);
	printf("sem: ncnt=%d\n", (int)semctl(id, 1, GETNCNT));
	struct sembuf up = {1, 2, 0};
	SYS(semop(id, &up, 1));
	CHECK(waitchild(c) == 0);
	printf("sem: child woke, val1=%d\n", (int)semctl(id, 1, GETVAL));

	/* Wait-for-zero, counted by GETZCNT. */
	SYS(semctl(id, 0, SETVAL, (union semun){.val = 1}));
	c = SYS(fork());
	if (c == 0) {
		struct sembuf z = {0, 0, 0};
		_exit(semop(id, &z, 1) == 0 ? 0 : 1);
	}
	while (semctl(id, 0, GETZCNT) != 1)
		usleep(1000);
	struct sembuf dn = {0, -1, 0};
	SYS(semop(id, &dn, 1));
	CHECK(waitchild(c) == 0);
	printf("sem: zero waiter woke\n");

	/* SEM_UNDO: a child's operations are undone when it exits. */
	c = SYS(fork());
	if (c == 0) {
		struct sembuf u[2] = {{2, -3, SEM_UNDO}, {0, 4, SEM_UNDO}};
		if (semop(id, u, 2) != 0)
			_exit(1);
		if (semctl(id, 2, GETVAL) != 2 || semctl(id, 0, GETVAL) != 4)
			_exit(2);
		_exit(0);
	}
	CHECK(waitchild(c) == 0);
	printf("sem: after undo: %d %d\n", (int)semctl(id, 0, GETVAL), (int)semctl(id, 2, GETVAL));
	CHECK(semctl(id, 2, GETPID) == c);

	/* semtimedop times out with EAGAIN. */
	struct timespec ts = {0, 20 * 1000 * 1000};
	struct sembuf blk = {1, -1, 0};
	CHECK(semtimedop(id, &blk, 1, &ts) == -1 && errno == EAGAIN);
	ts.tv_nsec = 2000000000;
	CHECK(semtimedop(id, &blk, 1, &ts) == -1 && errno == EINVAL);

	/* Errors. */
	struct sembuf bad = {7, 1, 0};
	CHECK(semop(id, &bad, 1) == -1 && errno == EFBIG);
	CHECK(semctl(id, 0, SETVAL, (union semun){.val = 40000}) == -1 && errno == ERANGE);
	CHECK(semctl(id, 9, GETVAL) == -1 && errno == EINVAL);
	CHECK(semget(IPC_PRIVATE, 0, 0600) == -1 && errno == EINVAL);
	struct sembuf big = {0, 32767, 0};
	SYS(semctl(id, 0, SETVAL, (union semun){.val = 1}));
	CHECK(semop(id, &big, 1) == -1 && errno == ERANGE);

	struct semid_ds ds;
	arg.buf = &ds;
	SYS(semctl(id, 0, IPC_STAT, arg));
	printf("sem: nsems=%lu mode=%o\n", (unsigned long)ds.sem_nsems, ds.sem_perm.mode & 0777);
	ds.sem_perm.mode = 0640;
	SYS(semctl(id, 0, IPC_SET, arg));
	SYS(semctl(id, 0, IPC_STAT, arg));
	printf("sem: set mode=%o\n", ds.sem_perm.mode & 0777);

	/* Removal wakes a sleeper with EIDRM. */
	c = SYS(fork());
	if (c == 0) {
		struct sembuf w = {1, -1, 0};
		_exit(semop(id, &w, 1) == -1 && errno == EIDRM ? 0 : 1);
	}
	while (semctl(id, 1, GETNCNT) != 1)
		usleep(1000);
	SYS(semctl(id, 0, IPC_RMID));
	CHECK(waitchild(c) == 0);
	CHECK(semctl(id, 0, GETVAL) == -1 && errno == EINVAL);
	struct seminfo si;
	arg.__buf = &si;
	CHECK(semctl(0, 0, IPC_INFO, arg) >= 0);
	printf("sem: semmsl=%d semopm=%d semvmx=%d\n", si.semmsl, si.semopm, si.semvmx);
	printf("sem: ok\n");
}

struct msg {
	long type;
	char text[64];
};

static void handler(int sig) { (void)sig; }

static void test_msg(void)
{
	int id = SYS(msgget(IPC_PRIVATE, IPC_CREAT | 0600));
	struct msg m;
	for (int i = 1; i <= 5; i++) {
		m.type = (i % 3) + 1;
		snprintf(m.text, sizeof m.text, "message %d type %ld", i, m.type);
		SYS(msgsnd(id, &m, strlen(m.text) + 1, 0));
	}
	struct msqid_ds ds;
	SYS(msgctl(id, IPC_STAT, &ds));
	printf("msg: qnum=%lu cbytes=%lu qbytes=%lu\n", (unsigned long)ds.msg_qnum,
	       (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes);

	long n = SYS(msgrcv(id, &m, sizeof m.text, 3, 0));
	printf("msg: type 3: %s (%ld)\n", m.text, n);
	n = SYS(msgrcv(id, &m, sizeof m.text, 2, MSG_EXCEPT));
	printf("msg: except 2: %s\n", m.text);
	n = SYS(msgrcv(id, &m, sizeof m.text, -2, 0));
	printf("msg: <= 2: %s\n", m.text);
	CHECK(msgrcv(id, &m, 4, 0, 0) == -1 && errno == E2BIG);
	n = SYS(msgrcv(id, &m, 4, 0, MSG_NOERROR));
	printf("msg: truncated to %ld: %.4s\n", n, m.text);
	n = SYS(msgrcv(id, &m, sizeof m.text, 0, 0));
	printf("msg: last: %s\n", m.text);
	CHECK(msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT) == -1 && errno == ENOMSG);

	/* A receiver blocked in another process gets the message. */
	pid_t c = SYS(fork());
	if (c == 0) {
		struct msg r;
		if (msgrcv(id, &r, sizeof r.text, 7, 0) < 0 || strcmp(r.text, "hello") != 0)
			_exit(1);
		_exit(0);
	}
	usleep(20000);
	m.type = 7;
	strcpy(m.text, "hello");
	SYS(msgsnd(id, &m, 6, 0));
	CHECK(waitchild(c) == 0);
	printf("msg: blocked receiver got it\n");

	/* A small queue: a full one blocks (EAGAIN with IPC_NOWAIT). */
	SYS(msgctl(id, IPC_STAT, &ds));
	ds.msg_qbytes = 10;
	SYS(msgctl(id, IPC_SET, &ds));
	m.type = 1;
	SYS(msgsnd(id, &m, 8, 0));
	CHECK(msgsnd(id, &m, 8, IPC_NOWAIT) == -1 && errno == EAGAIN);
	/* A signal interrupts a blocked send (with a handler: EINTR). */
	struct sigaction sa = {.sa_handler = handler};
	SYS(sigaction(SIGALRM, &sa, NULL));
	alarm(1);
	CHECK(msgsnd(id, &m, 8, 0) == -1 && errno == EINTR);
	CHECK(msgsnd(id, &m, 9000, 0) == -1 && errno == EINVAL);
	m.type = 0;
	CHECK(msgsnd(id, &m, 1, 0) == -1 && errno == EINVAL);

	SYS(msgctl(id, IPC_RMID, NULL));
	CHECK(msgsnd(id, &m, 1, 0) == -1 && errno == EINVAL);
	struct msginfo mi;
	CHECK(msgctl(0, IPC_INFO, (struct msqid_ds *)&mi) >= 0);
	printf("msg: msgmax=%d msgmnb=%d\n", mi.msgmax, mi.msgmnb);
	printf("msg: ok\n");
}

int main(void)
{
	veil_init("sysvipc");
	test_shm();
	test_sem();
	test_msg();
	printf("sysvipc: ok\n");
	return 0;
}
