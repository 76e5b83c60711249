/*
 * aio-test: an ordinary POSIX AIO program (glibc <aio.h>, -lrt).  Run it
 * plain to use glibc's AIO, or with LD_PRELOAD=libsyslet-aio.so to run the
 * same binary on syslets.
 *
 *   aio-test [--check-threads | --expect-helper] [--blocking]
 *
 * It prints how many threads the process has right after its first
 * aio_write() returned (glibc's AIO has started its helper thread by then;
 * libsyslet-aio runs a request that does not block in the caller) and
 * after the read/write tests, not counting the kernel's syslet pool
 * threads ("syslet-<pid>").
 *
 * --check-threads  fail if the process has more than one thread at either
 *                  point (libsyslet-aio: no glibc AIO helper threads, and
 *                  no reaper thread while nothing went asynchronous)
 * --expect-helper  fail unless there is more than one thread right after
 *                  the first aio_write() (glibc's own AIO: shows that the
 *                  count sees its helper thread)
 * --blocking       also read an empty pipe that is written only later
 *                  (needs real asynchronous AIO: glibc's or kernel syslets)
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;
static int threads_after_first_submission = -1;

#define CHECK(condition)                                                                                     \
	do {                                                                                                 \
		if (!(condition)) {                                                                          \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #condition);                 \
			failures++;                                                                          \
		}                                                                                            \
	} while (0)

static struct aiocb make_request(int fd, void* buffer, size_t size, off_t offset)
{
	struct aiocb cb;
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buffer;
	cb.aio_nbytes = size;
	cb.aio_offset = offset;
	cb.aio_sigevent.sigev_notify = SIGEV_NONE;
	return cb;
}

static void wait_for(struct aiocb* cb)
{
	const struct aiocb* list[1] = {cb};
	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
}

/*
 * The process' threads, not counting the kernel's syslet pool threads
 * (named "syslet-<pid>": spares the kernel keeps ready on a syslet
 * kernel, not threads of any AIO implementation).
 */
static int count_threads(void)
{
	int threads = 0;
	DIR* tasks = opendir("/proc/self/task");
	struct dirent* entry;
	if (tasks == NULL)
		return -1;
	while ((entry = readdir(tasks)) != NULL) {
		char path[300], name[32] = "";
		FILE* comm;
		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", entry->d_name);
		comm = fopen(path, "r");
		if (comm != NULL) {
			if (fgets(name, sizeof(name), comm) == NULL)
				name[0] = '\0';
			fclose(comm);
		}
		if (strncmp(name, "syslet-", 7) != 0)
			threads++;
	}
	closedir(tasks);
	return threads;
}

static void test_write_read_fsync(int fd)
{
	char text[] = "syslet aio";
	char back[sizeof(text)] = {0};
	struct aiocb cb = make_request(fd, text, strlen(text), 100);

	CHECK(aio_write(&cb) == 0);
	if (threads_after_first_submission < 0)
		threads_after_first_submission = count_threads();
	wait_for(&cb);
	CHECK(aio_error(&cb) == 0);
	CHECK(aio_return(&cb) == (ssize_t)strlen(text));

	cb = make_request(fd, back, strlen(text), 100);
	CHECK(aio_read(&cb) == 0);
	wait_for(&cb);
	CHECK(aio_error(&cb) == 0);
	CHECK(aio_return(&cb) == (ssize_t)strlen(text));
	CHECK(strcmp(back, text) == 0);

	cb = make_request(fd, NULL, 0, 0);
	CHECK(aio_fsync(O_SYNC, &cb) == 0);
	wait_for(&cb);
	CHECK(aio_error(&cb) == 0);
}

static void test_errors(void)
{
	char buffer[4];
	struct aiocb cb = make_request(-1, buffer, sizeof(buffer), 0);
	if (aio_read(&cb) == 0) {
		wait_for(&cb);
		CHECK(aio_error(&cb) == EBADF);
		CHECK(aio_return(&cb) == -1);
	} else {
		CHECK(errno == EBADF);
	}
}

static void test_lio_listio(int fd)
{
	char first[] = "AAAA", second[] = "BBBB", back[9] = {0};
	struct aiocb a = make_request(fd, first, 4, 0);
	struct aiocb b = make_request(fd, second, 4, 4);
	struct aiocb* writes[3] = {&a, NULL, &b};
	a.aio_lio_opcode = LIO_WRITE;
	b.aio_lio_opcode = LIO_WRITE;
	CHECK(lio_listio(LIO_WAIT, writes, 3, NULL) == 0);
	CHECK(aio_return(&a) == 4 && aio_return(&b) == 4);

	struct aiocb r = make_request(fd, back, 8, 0);
	struct aiocb* reads[1] = {&r};
	r.aio_lio_opcode = LIO_READ;
	CHECK(lio_listio(LIO_NOWAIT, reads, 1, NULL) == 0);
	wait_for(&r);
	CHECK(aio_return(&r) == 8);
	CHECK(strcmp(back, "AAAABBBB") == 0);
}

static volatile sig_atomic_t signal_code, signal_value;

static void on_signal(int signo, siginfo_t* info, void* context)
{
	(void)signo;
	(void)context;
	signal_code = info->si_code;
	signal_value = info->si_value.sival_int;
}

static void test_sigev_signal(int fd)
{
	char buffer[4];
	struct sigaction action;
	sigset_t block, previous;
	memset(&action, 0, sizeof(action));
	action.sa_sigaction = on_signal;
	action.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &action, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &block, &previous);

	struct aiocb cb = make_request(fd, buffer, sizeof(buffer), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = SIGRTMIN + 1;
	cb.aio_sigevent.sigev_value.sival_int = 4242;
	CHECK(aio_read(&cb) == 0);
	wait_for(&cb);
	struct timespec limit = {5, 0};
	siginfo_t info;
	CHECK(sigtimedwait(&block, &info, &limit) == SIGRTMIN + 1);
	CHECK(info.si_code == SI_ASYNCIO);
	CHECK(info.si_value.sival_int == 4242);
	sigprocmask(SIG_SETMASK, &previous, NULL);
}

static sem_t thread_notified;
static int thread_value;

static void on_completion(union sigval value)
{
	thread_value = value.sival_int;
	sem_post(&thread_notified);
}

static void test_sigev_thread(int fd)
{
	char buffer[4];
	struct timespec deadline;
	struct aiocb cb = make_request(fd, buffer, sizeof(buffer), 0);
	sem_init(&thread_notified, 0, 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = on_completion;
	cb.aio_sigevent.sigev_value.sival_int = 77;
	CHECK(aio_read(&cb) == 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	CHECK(sem_timedwait(&thread_notified, &deadline) == 0);
	CHECK(thread_value == 77);
	wait_for(&cb);
}

static void test_blocking_pipe(void)
{
	int fds[2];
	char buffer[8] = {0};
	CHECK(pipe(fds) == 0);
	struct aiocb cb = make_request(fds[0], buffer, sizeof(buffer), 0);
	CHECK(aio_read(&cb) == 0);
	CHECK(aio_error(&cb) == EINPROGRESS);
	const struct aiocb* list[1] = {&cb};
	struct timespec short_wait = {0, 100 * 1000 * 1000};
	CHECK(aio_suspend(list, 1, &short_wait) == -1 && errno == EAGAIN);
	CHECK(write(fds[1], "late", 4) == 4);
	wait_for(&cb);
	CHECK(aio_return(&cb) == 4);
	CHECK(memcmp(buffer, "late", 4) == 0);
	close(fds[0]);
	close(fds[1]);
}

int main(int argc, char** argv)
{
	int check_threads = 0, expect_helper = 0, blocking = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-threads") == 0)
			check_threads = 1;
		else if (strcmp(argv[i], "--expect-helper") == 0)
			expect_helper = 1;
		else if (strcmp(argv[i], "--blocking") == 0)
			blocking = 1;
	}

	Dl_info where;
	if (dladdr((void*)aio_read, &where) && where.dli_fname)
		printf("aio_read comes from %s\n", where.dli_fname);

	char path[] = "/tmp/aio-test-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);

	test_write_read_fsync(fd);
	test_errors();
	test_lio_listio(fd);
	const int threads = count_threads();
	printf("threads right after the first aio_write: %d\n", threads_after_first_submission);
	printf("threads after read/write/fsync/lio_listio: %d\n", threads);
	if (check_threads) {
		CHECK(threads_after_first_submission == 1);
		CHECK(threads == 1);
	}
	if (expect_helper)
		CHECK(threads_after_first_submission > 1);
	test_sigev_signal(fd);
	test_sigev_thread(fd);
	if (blocking)
		test_blocking_pipe();
	close(fd);

	printf("aio-test: %s (%d failures)\n", failures ? "FAILED" : "passed", failures);
	return failures ? 1 : 0;
}
