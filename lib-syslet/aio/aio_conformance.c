/*
 * aio-conformance: POSIX AIO conformance tests, written from the text of
 * POSIX.1-2017 (aio_read, aio_write, aio_fsync, aio_error, aio_return,
 * aio_suspend, aio_cancel, lio_listio, <signal.h> sigevent).
 *
 * Run it plain to test glibc's AIO (the reference), or with
 * LD_PRELOAD=libsyslet-aio.so to test the syslet shim with the same binary:
 *
 *   aio-conformance [--list] [-t ms] [NAME-SUBSTRING...]
 *
 * Every test runs in a process of its own, makes exactly one assertion,
 * and is killed (and counted as failed) after its timeout, so no test can
 * hang the suite.  A failed set-up step fails the test too, saying so.
 * Output is TAP-like; the last line is "N passed, N failed".
 *
 * Where glibc and the standard differ, or the standard leaves a choice,
 * the test follows glibc and says so in a comment marked "glibc:".
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ harness */

static const char* current_test;

/* The one assertion of a test: its value is the test's result. */
static int expect(int condition, const char* text, int line)
{
	if (!condition)
		fprintf(stderr, "# %s: line %d: expected %s\n", current_test, line, text);
	return condition;
}
#define EXPECT(condition) return expect((condition) != 0, #condition, __LINE__)

/* A set-up step that must work for the test to mean anything. */
#define REQUIRE(condition)                                                                                   \
	do {                                                                                                 \
		if (!(condition)) {                                                                          \
			fprintf(stderr, "# %s: line %d: set-up failed: %s (errno %d)\n", current_test,       \
				__LINE__, #condition, errno);                                                \
			_exit(3);                                                                            \
		}                                                                                            \
	} while (0)

static long elapsed_ms(const struct timespec* since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ helpers */

static struct aiocb request(int fd, void* buffer, size_t size, off_t offset)
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

/* An unlinked temporary file holding "0123456789". */
static int ten_byte_file(int flags)
{
	char path[] = "/tmp/aio-conformance-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "0123456789", 10) == 10);
	if (flags != O_RDWR) {
		int other = open(path, flags);
		REQUIRE(other >= 0);
		close(fd);
		fd = other;
	}
	unlink(path);
	return fd;
}

static void wait_done(struct aiocb* cb)
{
	const struct aiocb* list[1] = {cb};
	while (aio_error(cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
}

static void make_pipe(int fds[2])
{
	REQUIRE(pipe(fds) == 0);
}

/* Submission result: 0, or the errno of a failed call. */
static int submit_read(struct aiocb* cb)
{
	return aio_read(cb) == 0 ? 0 : errno;
}

/*
 * POSIX lets an implementation report a request's argument errors either
 * from the submitting call (-1 and errno) or as the request's error
 * status: the error seen either way.
 */
static int error_either_way(int (*submit)(struct aiocb*), struct aiocb* cb)
{
	errno = 0;
	if (submit(cb) != 0)
		return errno;
	wait_done(cb);
	return aio_error(cb);
}

/* A thread that writes to a file descriptor after a delay. */
struct delayed_write {
	int fd;
	const char* text;
	long delay_ms;
	pthread_t thread;
};

static void* delayed_write_body(void* argument)
{
	struct delayed_write* job = argument;
	sleep_ms(job->delay_ms);
	if (write(job->fd, job->text, strlen(job->text)) < 0)
		perror("delayed write");
	return NULL;
}

static void write_later(struct delayed_write* job, int fd, const char* text, long delay_ms)
{
	job->fd = fd;
	job->text = text;
	job->delay_ms = delay_ms;
	REQUIRE(pthread_create(&job->thread, NULL, delayed_write_body, job) == 0);
}

/* Blocks @signo in this thread (and threads it creates from now on). */
static void block_signal(int signo)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, signo);
	REQUIRE(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
}

/* Waits for blocked @signo: 1 and *info if it came within @ms. */
static int receive_signal(int signo, long ms, siginfo_t* info)
{
	sigset_t set;
	siginfo_t ignored;
	struct timespec limit = {ms / 1000, (ms % 1000) * 1000000};
	sigemptyset(&set);
	sigaddset(&set, signo);
	return sigtimedwait(&set, info != NULL ? info : &ignored, &limit) == signo;
}

static void signal_on_completion(struct aiocb* cb, int signo, int value)
{
	cb->aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb->aio_sigevent.sigev_signo = signo;
	cb->aio_sigevent.sigev_value.sival_int = value;
}

/* A pipe with an aio_read pending on its empty read end. */
struct pending_read {
	int fds[2];
	char buffer[16];
	struct aiocb cb;
};

static void start_pending_read(struct pending_read* p)
{
	make_pipe(p->fds);
	memset(p->buffer, 0, sizeof(p->buffer));
	p->cb = request(p->fds[0], p->buffer, 4, 0);
	REQUIRE(aio_read(&p->cb) == 0);
	REQUIRE(aio_error(&p->cb) == EINPROGRESS);
}

/* Feeds the pipe so that the pending read (and its queue) can finish. */
static void finish_pending_read(struct pending_read* p)
{
	REQUIRE(write(p->fds[1], "abcdefghijklmnop", 16) == 16);
	wait_done(&p->cb);
}

/* ------------------------------------------------------------------ aio_read */

/* "The aio_read() function shall return the value zero if the I/O operation
 * is successfully queued". */
static int read_returns_zero_when_queued(void)
{
	char buffer[4];
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, buffer, 4, 0);
	int result = aio_read(&cb);
	wait_done(&cb);
	EXPECT(result == 0);
}

/* aio_return(): "the return status ... shall be the value that would be
 * returned by the corresponding read()". */
static int read_return_is_byte_count(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(aio_return(&cb) == 4);
}

static int read_data_arrives(void)
{
	char buffer[5] = {0};
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(strcmp(buffer, "0123") == 0);
}

/* "the read shall start at the absolute position in the file given by
 * aio_offset". */
static int read_honours_offset(void)
{
	char buffer[4] = {0};
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 3, 5);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(strcmp(buffer, "567") == 0);
}

static int read_short_at_end_of_file(void)
{
	char buffer[8];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 8, 6);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(aio_return(&cb) == 4);
}

static int read_past_end_of_file_returns_zero(void)
{
	char buffer[8];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 8, 100);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	REQUIRE(aio_error(&cb) == 0);
	EXPECT(aio_return(&cb) == 0);
}

/* [EBADF] "The aio_fildes argument is not a valid file descriptor open for
 * reading", at the call or as the error status (glibc: error status). */
static int read_bad_fd_ebadf(void)
{
	char buffer[4];
	struct aiocb cb = request(-1, buffer, 4, 0);
	EXPECT(error_either_way(submit_read, &cb) == EBADF);
}

static int read_write_only_fd_ebadf(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_WRONLY), buffer, 4, 0);
	EXPECT(error_either_way(submit_read, &cb) == EBADF);
}

/* [EINVAL] "The file offset value implied by aio_offset would be invalid"
 * (glibc: error status). */
static int read_negative_offset_einval(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, -1);
	EXPECT(error_either_way(submit_read, &cb) == EINVAL);
}

/* [EINVAL] "aio_reqprio is not a valid value" (glibc: at the call, for a
 * value below 0 or above AIO_PRIO_DELTA_MAX). */
static int read_bad_reqprio_einval(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	cb.aio_reqprio = -1;
	EXPECT(error_either_way(submit_read, &cb) == EINVAL);
}

/* glibc: a request refused for its priority also gets EINVAL as its error
 * status and -1 as its return status. */
static int read_bad_reqprio_sets_error_status(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	cb.aio_reqprio = 1000;
	REQUIRE(aio_read(&cb) == -1);
	EXPECT(aio_error(&cb) == EINVAL);
}

/* "The aio_read() function shall ... return when the read request has been
 * initiated or queued": an empty pipe does not block the caller. */
static int read_empty_pipe_in_progress(void)
{
	int fds[2];
	char buffer[4];
	make_pipe(fds);
	struct aiocb cb = request(fds[0], buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	int error = aio_error(&cb);
	REQUIRE(write(fds[1], "abcd", 4) == 4);
	wait_done(&cb);
	EXPECT(error == EINPROGRESS);
}

static int read_pipe_completes_after_write(void)
{
	int fds[2];
	char buffer[5] = {0};
	make_pipe(fds);
	struct aiocb cb = request(fds[0], buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	sleep_ms(20);
	REQUIRE(write(fds[1], "late", 4) == 4);
	wait_done(&cb);
	EXPECT(aio_return(&cb) == 4 && strcmp(buffer, "late") == 0);
}

static int read_socket_in_progress(void)
{
	int fds[2];
	char buffer[4];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	struct aiocb cb = request(fds[0], buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	int error = aio_error(&cb);
	REQUIRE(write(fds[1], "abcd", 4) == 4);
	wait_done(&cb);
	EXPECT(error == EINPROGRESS);
}

static int read_socket_completes_after_send(void)
{
	int fds[2];
	char buffer[4];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	struct aiocb cb = request(fds[0], buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	REQUIRE(send(fds[1], "sock", 4, 0) == 4);
	wait_done(&cb);
	EXPECT(aio_return(&cb) == 4 && memcmp(buffer, "sock", 4) == 0);
}

/* ------------------------------------------------------------------ aio_write */

static int submit_write(struct aiocb* cb)
{
	return aio_write(cb) == 0 ? 0 : errno;
}

static int write_returns_zero_when_queued(void)
{
	struct aiocb cb = request(ten_byte_file(O_RDWR), "ab", 2, 0);
	int result = aio_write(&cb);
	wait_done(&cb);
	EXPECT(result == 0);
}

static int write_return_is_byte_count(void)
{
	struct aiocb cb = request(ten_byte_file(O_RDWR), "abc", 3, 0);
	REQUIRE(aio_write(&cb) == 0);
	wait_done(&cb);
	EXPECT(aio_return(&cb) == 3);
}

/* "the write shall start at the absolute position in the file given by
 * aio_offset". */
static int write_honours_offset(void)
{
	char back[11] = {0};
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, "XY", 2, 3);
	REQUIRE(aio_write(&cb) == 0);
	wait_done(&cb);
	REQUIRE(pread(fd, back, 10, 0) == 10);
	EXPECT(strcmp(back, "012XY56789") == 0);
}

/* "If O_APPEND is set for the file descriptor, write operations append to
 * the file in the same order as the calls were made." */
static int write_append_mode_appends(void)
{
	char back[13] = {0};
	int fd = ten_byte_file(O_WRONLY | O_APPEND);
	int reader;
	char path[64];
	struct aiocb cb = request(fd, "ab", 2, 0);
	REQUIRE(aio_write(&cb) == 0);
	wait_done(&cb);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	reader = open(path, O_RDONLY);
	REQUIRE(reader >= 0);
	REQUIRE(pread(reader, back, 12, 0) == 12);
	EXPECT(strcmp(back, "0123456789ab") == 0);
}

/* [EBADF] "not a valid file descriptor open for writing". */
static int write_read_only_fd_ebadf(void)
{
	struct aiocb cb = request(ten_byte_file(O_RDONLY), "ab", 2, 0);
	EXPECT(error_either_way(submit_write, &cb) == EBADF);
}

static int write_bad_fd_ebadf(void)
{
	struct aiocb cb = request(-1, "ab", 2, 0);
	EXPECT(error_either_way(submit_write, &cb) == EBADF);
}

static int write_pipe_data_readable(void)
{
	int fds[2];
	char back[5] = {0};
	make_pipe(fds);
	struct aiocb cb = request(fds[1], "pipe", 4, 0);
	REQUIRE(aio_write(&cb) == 0);
	wait_done(&cb);
	REQUIRE(aio_return(&cb) == 4);
	REQUIRE(read(fds[0], back, 4) == 4);
	EXPECT(strcmp(back, "pipe") == 0);
}

/* A write to a full pipe does not block the caller either. */
static int write_full_pipe_in_progress(void)
{
	int fds[2];
	static char fill[65536], drain[65536];
	make_pipe(fds);
	REQUIRE(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
	while (write(fds[1], fill, sizeof(fill)) > 0)
		;
	REQUIRE(fcntl(fds[1], F_SETFL, 0) == 0);
	struct aiocb cb = request(fds[1], "more", 4, 0);
	REQUIRE(aio_write(&cb) == 0);
	int error = aio_error(&cb);
	REQUIRE(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
	while (aio_error(&cb) == EINPROGRESS)
		if (read(fds[0], drain, sizeof(drain)) < 0)
			sleep_ms(1);
	EXPECT(error == EINPROGRESS);
}

/* ------------------------------------------------------------------ aio_fsync */

static int fsync_o_sync_succeeds(void)
{
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, NULL, 0, 0);
	REQUIRE(aio_fsync(O_SYNC, &cb) == 0);
	wait_done(&cb);
	EXPECT(aio_error(&cb) == 0);
}

static int fsync_o_dsync_succeeds(void)
{
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, NULL, 0, 0);
	REQUIRE(aio_fsync(O_DSYNC, &cb) == 0);
	wait_done(&cb);
	EXPECT(aio_error(&cb) == 0);
}

static int fsync_return_is_zero(void)
{
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, NULL, 0, 0);
	REQUIRE(aio_fsync(O_SYNC, &cb) == 0);
	wait_done(&cb);
	EXPECT(aio_return(&cb) == 0);
}

/* [EINVAL] "A value of op other than O_DSYNC or O_SYNC was specified." */
static int fsync_bad_op_einval(void)
{
	struct aiocb cb = request(ten_byte_file(O_RDWR), NULL, 0, 0);
	errno = 0;
	int result = aio_fsync(O_RDWR | 0x4000, &cb);
	EXPECT(result == -1 && errno == EINVAL);
}

static int submit_fsync(struct aiocb* cb)
{
	return aio_fsync(O_SYNC, cb) == 0 ? 0 : errno;
}

/* [EBADF] "The aio_fildes member ... is not a valid file descriptor"
 * (glibc: at the call). */
static int fsync_bad_fd_ebadf(void)
{
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, NULL, 0, 0);
	close(fd);
	EXPECT(error_either_way(submit_fsync, &cb) == EBADF);
}

/* [EINVAL] "This implementation does not support synchronized I/O for this
 * file" (a pipe; glibc: error status). */
static int fsync_pipe_einval(void)
{
	int fds[2];
	make_pipe(fds);
	struct aiocb cb = request(fds[1], NULL, 0, 0);
	EXPECT(error_either_way(submit_fsync, &cb) == EINVAL);
}

/* "The aio_fsync() function shall asynchronously perform a file
 * synchronization operation ... all currently queued I/O operations
 * associated with the file indicated by ... aio_fildes shall be
 * completed": writes submitted before it are complete when it is. */
static int fsync_after_earlier_writes(void)
{
	enum { writes = 16, size = 4096 };
	static char blocks[writes][size];
	struct aiocb cbs[writes];
	int fd = ten_byte_file(O_RDWR), all_done = 1;
	for (int i = 0; i < writes; i++) {
		memset(blocks[i], 'a' + i, size);
		cbs[i] = request(fd, blocks[i], size, (off_t)i * size);
		REQUIRE(aio_write(&cbs[i]) == 0);
	}
	struct aiocb sync = request(fd, NULL, 0, 0);
	REQUIRE(aio_fsync(O_SYNC, &sync) == 0);
	wait_done(&sync);
	for (int i = 0; i < writes; i++)
		all_done = all_done && aio_error(&cbs[i]) == 0 && aio_return(&cbs[i]) == size;
	EXPECT(aio_error(&sync) == 0 && all_done);
}

/* ------------------------------------------------------------------ aio_error / aio_return */

static int error_zero_after_success(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(aio_error(&cb) == 0);
}

/* glibc: aio_error() of a zeroed aiocb that was never submitted returns 0
 * (the standard allows EINVAL: "may fail"). */
static int error_never_submitted_is_zero(void)
{
	struct aiocb cb;
	memset(&cb, 0, sizeof(cb));
	EXPECT(aio_error(&cb) == 0);
}

/* "If the I/O operation ... failed ... aio_return() shall return -1". */
static int return_minus_one_on_error(void)
{
	char buffer[4];
	struct aiocb cb = request(-1, buffer, 4, 0);
	if (aio_read(&cb) != 0)
		return 1; /* refused at the call: nothing to check (see read_bad_fd_ebadf) */
	wait_done(&cb);
	EXPECT(aio_return(&cb) == -1);
}

/* ------------------------------------------------------------------ aio_suspend */

/* "If any of the aiocb structures in the list correspond to completed
 * asynchronous I/O operations ... the function shall return without
 * suspending the calling thread." */
static int suspend_returns_for_completed(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	const struct aiocb* list[1] = {&cb};
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(aio_suspend(list, 1, NULL) == 0);
}

/* [EAGAIN] "No asynchronous I/O indicated in the list referenced by list
 * completed in the time interval indicated by timeout." */
static int suspend_timeout_eagain(void)
{
	struct pending_read p;
	struct timespec limit = {0, 50 * 1000000};
	start_pending_read(&p);
	const struct aiocb* list[1] = {&p.cb};
	errno = 0;
	int result = aio_suspend(list, 1, &limit);
	int error = errno;
	finish_pending_read(&p);
	EXPECT(result == -1 && error == EAGAIN);
}

static int suspend_zero_timeout_eagain(void)
{
	struct pending_read p;
	struct timespec limit = {0, 0};
	start_pending_read(&p);
	const struct aiocb* list[1] = {&p.cb};
	errno = 0;
	int result = aio_suspend(list, 1, &limit);
	int error = errno;
	finish_pending_read(&p);
	EXPECT(result == -1 && error == EAGAIN);
}

/* The timeout is a time interval: it is not cut short. */
static int suspend_timeout_is_waited_out(void)
{
	struct pending_read p;
	struct timespec limit = {0, 80 * 1000000}, start;
	start_pending_read(&p);
	const struct aiocb* list[1] = {&p.cb};
	clock_gettime(CLOCK_MONOTONIC, &start);
	REQUIRE(aio_suspend(list, 1, &limit) == -1);
	long waited = elapsed_ms(&start);
	finish_pending_read(&p);
	EXPECT(waited >= 70);
}

/* "shall suspend the calling thread until at least one of the asynchronous
 * I/O operations referenced by the list argument has completed". */
static int suspend_wakes_on_completion(void)
{
	struct pending_read p;
	struct delayed_write writer;
	start_pending_read(&p);
	const struct aiocb* list[1] = {&p.cb};
	write_later(&writer, p.fds[1], "wake", 50);
	int result = aio_suspend(list, 1, NULL);
	pthread_join(writer.thread, NULL);
	REQUIRE(aio_error(&p.cb) != EINPROGRESS);
	EXPECT(result == 0);
}

/* "The array may contain null pointers, which are ignored." */
static int suspend_ignores_null_entries(void)
{
	struct pending_read p;
	struct delayed_write writer;
	start_pending_read(&p);
	const struct aiocb* list[3] = {NULL, &p.cb, NULL};
	write_later(&writer, p.fds[1], "wake", 30);
	int result = aio_suspend(list, 3, NULL);
	pthread_join(writer.thread, NULL);
	EXPECT(result == 0);
}

/* Any one of the list completing ends the wait. */
static int suspend_any_of_many(void)
{
	struct pending_read first, second;
	struct delayed_write writer;
	start_pending_read(&first);
	start_pending_read(&second);
	const struct aiocb* list[2] = {&first.cb, &second.cb};
	write_later(&writer, second.fds[1], "two!", 30);
	REQUIRE(aio_suspend(list, 2, NULL) == 0);
	pthread_join(writer.thread, NULL);
	int first_error = aio_error(&first.cb);
	finish_pending_read(&first);
	EXPECT(first_error == EINPROGRESS && aio_error(&second.cb) == 0);
}

static void on_signal(int signo)
{
	(void)signo;
}

struct delayed_signal {
	pthread_t target;
	int signo;
	long delay_ms;
};

static void* delayed_signal_body(void* argument)
{
	struct delayed_signal* job = argument;
	sleep_ms(job->delay_ms);
	pthread_kill(job->target, job->signo);
	return NULL;
}

/* [EINTR] "A signal interrupted the aio_suspend() function." */
static int suspend_interrupted_eintr(void)
{
	struct pending_read p;
	struct sigaction action;
	struct delayed_signal job = {pthread_self(), SIGUSR1, 50};
	pthread_t thread;
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_signal; /* no SA_RESTART */
	REQUIRE(sigaction(SIGUSR1, &action, NULL) == 0);
	start_pending_read(&p);
	const struct aiocb* list[1] = {&p.cb};
	REQUIRE(pthread_create(&thread, NULL, delayed_signal_body, &job) == 0);
	errno = 0;
	int result = aio_suspend(list, 1, NULL);
	int error = errno;
	pthread_join(thread, NULL);
	finish_pending_read(&p);
	EXPECT(result == -1 && error == EINTR);
}

/* glibc: a negative count is EINVAL. */
static int suspend_negative_count_einval(void)
{
	const struct aiocb* list[1] = {NULL};
	errno = 0;
	int result = aio_suspend(list, -1, NULL);
	EXPECT(result == -1 && errno == EINVAL);
}

/* glibc: a list with nothing to wait for returns 0 at once. */
static int suspend_all_null_returns(void)
{
	const struct aiocb* list[2] = {NULL, NULL};
	EXPECT(aio_suspend(list, 2, NULL) == 0);
}

/* glibc: an aiocb that says EINPROGRESS but was never submitted (here: a
 * copy of a pending one) never completes, so aio_suspend() returns at once
 * instead of waiting forever. */
static int suspend_unknown_in_progress_returns(void)
{
	struct pending_read p;
	struct aiocb copy;
	start_pending_read(&p);
	memcpy(&copy, &p.cb, sizeof(copy));
	const struct aiocb* list[1] = {&copy};
	int result = aio_suspend(list, 1, NULL);
	finish_pending_read(&p);
	EXPECT(result == 0);
}

/* ------------------------------------------------------------------ aio_cancel */

/* [EBADF] "The fildes argument is not a valid file descriptor." */
static int cancel_bad_fd_ebadf(void)
{
	errno = 0;
	int result = aio_cancel(-1, NULL);
	EXPECT(result == -1 && errno == EBADF);
}

/* glibc: an aiocb for another descriptor is EINVAL (undefined in POSIX). */
static int cancel_mismatched_fd_einval(void)
{
	struct pending_read p;
	start_pending_read(&p);
	errno = 0;
	int result = aio_cancel(p.fds[1], &p.cb);
	int error = errno;
	finish_pending_read(&p);
	EXPECT(result == -1 && error == EINVAL);
}

/* "AIO_ALLDONE ... all of the operations have already completed." */
static int cancel_completed_alldone(void)
{
	char buffer[4];
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, buffer, 4, 0);
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(aio_cancel(fd, &cb) == AIO_ALLDONE);
}

static int cancel_idle_fd_alldone(void)
{
	int fd = ten_byte_file(O_RDWR);
	EXPECT(aio_cancel(fd, NULL) == AIO_ALLDONE);
}

/* glibc: a zeroed aiocb that was never submitted counts as done. */
static int cancel_never_submitted_alldone(void)
{
	int fd = ten_byte_file(O_RDWR);
	struct aiocb cb = request(fd, NULL, 0, 0);
	EXPECT(aio_cancel(fd, &cb) == AIO_ALLDONE);
}

/* glibc: an aiocb that says EINPROGRESS but is no request of this process
 * is EINVAL. */
static int cancel_unknown_in_progress_einval(void)
{
	struct pending_read p;
	struct aiocb copy;
	start_pending_read(&p);
	memcpy(&copy, &p.cb, sizeof(copy));
	errno = 0;
	int result = aio_cancel(p.fds[0], &copy);
	int error = errno;
	finish_pending_read(&p);
	EXPECT(result == -1 && error == EINVAL);
}

/*
 * A read blocked on an empty pipe, and a second read of the same pipe
 * queued behind it: the queued one has not started and can be cancelled
 * (glibc runs the requests of one descriptor in order, one at a time).
 */
struct queued_pair {
	struct pending_read running;
	char buffer[4];
	struct aiocb queued;
};

static void start_queued_pair(struct queued_pair* q)
{
	start_pending_read(&q->running);
	q->queued = request(q->running.fds[0], q->buffer, 4, 0);
	REQUIRE(aio_read(&q->queued) == 0);
	sleep_ms(20); /* let the first one reach its read() */
	REQUIRE(aio_error(&q->running.cb) == EINPROGRESS);
}

/* "AIO_CANCELED ... the requested operation(s) were canceled." */
static int cancel_queued_canceled(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	int result = aio_cancel(q.running.fds[0], &q.queued);
	finish_pending_read(&q.running);
	wait_done(&q.queued);
	EXPECT(result == AIO_CANCELED);
}

/* "The error status ... of canceled operations shall be [ECANCELED]". */
static int cancel_queued_error_ecanceled(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	REQUIRE(aio_cancel(q.running.fds[0], &q.queued) == AIO_CANCELED);
	int error = aio_error(&q.queued);
	finish_pending_read(&q.running);
	EXPECT(error == ECANCELED);
}

/* "... the return status of canceled operations shall be -1". */
static int cancel_queued_return_minus_one(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	REQUIRE(aio_cancel(q.running.fds[0], &q.queued) == AIO_CANCELED);
	ssize_t value = aio_return(&q.queued);
	finish_pending_read(&q.running);
	EXPECT(value == -1);
}

/* "Asynchronous notification shall occur for all asynchronous I/O
 * operations that are successfully canceled." */
static int cancel_queued_notifies(void)
{
	struct queued_pair q;
	block_signal(SIGUSR2);
	start_pending_read(&q.running);
	q.queued = request(q.running.fds[0], q.buffer, 4, 0);
	signal_on_completion(&q.queued, SIGUSR2, 7);
	REQUIRE(aio_read(&q.queued) == 0);
	sleep_ms(20);
	REQUIRE(aio_cancel(q.running.fds[0], &q.queued) == AIO_CANCELED);
	int notified = receive_signal(SIGUSR2, 2000, NULL);
	finish_pending_read(&q.running);
	EXPECT(notified);
}

/* The cancelled request's data never arrives: the next bytes go to the
 * request that was running. */
static int cancel_queued_never_runs(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	memset(q.buffer, 0, sizeof(q.buffer));
	REQUIRE(aio_cancel(q.running.fds[0], &q.queued) == AIO_CANCELED);
	finish_pending_read(&q.running);
	sleep_ms(20);
	EXPECT(q.buffer[0] == 0 && aio_error(&q.queued) == ECANCELED);
}

/* "AIO_NOTCANCELED ... at least one of the requested operation(s) cannot
 * be canceled because it is in progress."  (An implementation that can
 * cancel a blocked read may say AIO_CANCELED, with ECANCELED.  The syslet
 * shim on a kernel with async_cancel() does: the caller says so with
 * AIO_CONFORMANCE_KERNEL_CANCEL=1, and then only that passes.) */
static int cancel_running_notcanceled(void)
{
	struct pending_read p;
	start_pending_read(&p);
	sleep_ms(20);
	int result = aio_cancel(p.fds[0], &p.cb);
	int error = aio_error(&p.cb);
	finish_pending_read(&p);
	if (getenv("AIO_CONFORMANCE_KERNEL_CANCEL"))
		EXPECT(result == AIO_CANCELED && error == ECANCELED);
	EXPECT((result == AIO_NOTCANCELED && error == EINPROGRESS) ||
	       (result == AIO_CANCELED && error == ECANCELED));
}

/* "Operations that are not canceled shall complete normally." */
static int cancel_running_completes_normally(void)
{
	struct pending_read p;
	start_pending_read(&p);
	sleep_ms(20);
	int result = aio_cancel(p.fds[0], &p.cb);
	finish_pending_read(&p);
	EXPECT(result == AIO_CANCELED || (aio_error(&p.cb) == 0 && aio_return(&p.cb) == 4));
}

/* "If aiocbp is NULL, then all outstanding cancelable asynchronous I/O
 * requests associated with fildes shall be canceled": one in progress
 * makes it AIO_NOTCANCELED. */
static int cancel_all_reports_notcanceled(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	int result = aio_cancel(q.running.fds[0], NULL);
	finish_pending_read(&q.running);
	wait_done(&q.queued);
	EXPECT(result == AIO_NOTCANCELED || result == AIO_CANCELED);
}

static int cancel_all_cancels_queued(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	REQUIRE(aio_cancel(q.running.fds[0], NULL) != -1);
	int error = aio_error(&q.queued);
	finish_pending_read(&q.running);
	EXPECT(error == ECANCELED);
}

/* Cancelling one descriptor leaves the requests of another alone. */
static int cancel_other_fd_untouched(void)
{
	struct queued_pair a, b;
	start_queued_pair(&a);
	start_queued_pair(&b);
	REQUIRE(aio_cancel(a.running.fds[0], NULL) != -1);
	int error = aio_error(&b.queued);
	finish_pending_read(&a.running);
	finish_pending_read(&b.running);
	wait_done(&b.queued);
	EXPECT(error == EINPROGRESS);
}

/* glibc: cancelling a request that was already cancelled is AIO_ALLDONE. */
static int cancel_again_alldone(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	REQUIRE(aio_cancel(q.running.fds[0], &q.queued) == AIO_CANCELED);
	int result = aio_cancel(q.running.fds[0], &q.queued);
	finish_pending_read(&q.running);
	EXPECT(result == AIO_ALLDONE);
}

/* A cancelled request counts as completed for aio_suspend(). */
static int cancel_then_suspend_returns(void)
{
	struct queued_pair q;
	start_queued_pair(&q);
	REQUIRE(aio_cancel(q.running.fds[0], &q.queued) == AIO_CANCELED);
	const struct aiocb* list[1] = {&q.queued};
	int result = aio_suspend(list, 1, NULL);
	finish_pending_read(&q.running);
	EXPECT(result == 0);
}

/* ------------------------------------------------------------------ lio_listio */

static void two_writes(int fd, struct aiocb* a, struct aiocb* b, struct aiocb* list[2])
{
	*a = request(fd, "AB", 2, 0);
	*b = request(fd, "CD", 2, 4);
	a->aio_lio_opcode = LIO_WRITE;
	b->aio_lio_opcode = LIO_WRITE;
	list[0] = a;
	list[1] = b;
}

/* "If the mode argument is LIO_WAIT, lio_listio() shall return the value
 * zero when all the indicated I/O has completed successfully." */
static int lio_wait_returns_zero(void)
{
	struct aiocb a, b, *list[2];
	two_writes(ten_byte_file(O_RDWR), &a, &b, list);
	EXPECT(lio_listio(LIO_WAIT, list, 2, NULL) == 0);
}

/* "the function shall wait until all I/O is complete". */
static int lio_wait_all_done_on_return(void)
{
	struct aiocb a, b, *list[2];
	two_writes(ten_byte_file(O_RDWR), &a, &b, list);
	REQUIRE(lio_listio(LIO_WAIT, list, 2, NULL) == 0);
	EXPECT(aio_error(&a) == 0 && aio_error(&b) == 0);
}

static int lio_wait_data_written(void)
{
	char back[11] = {0};
	int fd = ten_byte_file(O_RDWR);
	struct aiocb a, b, *list[2];
	two_writes(fd, &a, &b, list);
	REQUIRE(lio_listio(LIO_WAIT, list, 2, NULL) == 0);
	REQUIRE(pread(fd, back, 10, 0) == 10);
	EXPECT(strcmp(back, "AB23CD6789") == 0);
}

static int lio_wait_return_values(void)
{
	char buffer[8];
	int fd = ten_byte_file(O_RDWR);
	struct aiocb a = request(fd, buffer, 3, 0), b = request(fd, buffer + 3, 5, 8);
	struct aiocb* list[2] = {&a, &b};
	a.aio_lio_opcode = LIO_READ;
	b.aio_lio_opcode = LIO_READ;
	REQUIRE(lio_listio(LIO_WAIT, list, 2, NULL) == 0);
	EXPECT(aio_return(&a) == 3 && aio_return(&b) == 2);
}

/* A list whose requests depend on each other (a read of a pipe and the
 * write that feeds it) completes. */
static int lio_wait_pipe_reader_and_writer(void)
{
	int fds[2];
	char buffer[4];
	make_pipe(fds);
	struct aiocb r = request(fds[0], buffer, 4, 0), w = request(fds[1], "feed", 4, 0);
	struct aiocb* list[2] = {&r, &w};
	r.aio_lio_opcode = LIO_READ;
	w.aio_lio_opcode = LIO_WRITE;
	EXPECT(lio_listio(LIO_WAIT, list, 2, NULL) == 0);
}

/* The same after an earlier request on a pipe finished (an implementation
 * with helper threads has an idle one by then). */
static int lio_wait_pipe_reader_and_writer_again(void)
{
	struct pending_read earlier;
	int fds[2];
	char buffer[4];
	start_pending_read(&earlier);
	finish_pending_read(&earlier);
	make_pipe(fds);
	struct aiocb r = request(fds[0], buffer, 4, 0), w = request(fds[1], "feed", 4, 0);
	struct aiocb* list[2] = {&r, &w};
	r.aio_lio_opcode = LIO_READ;
	w.aio_lio_opcode = LIO_WRITE;
	EXPECT(lio_listio(LIO_WAIT, list, 2, NULL) == 0);
}

/* "If the mode argument is LIO_NOWAIT, lio_listio() shall return the value
 * zero if the I/O operations are successfully queued". */
static int lio_nowait_returns_zero(void)
{
	struct aiocb a, b, *list[2];
	two_writes(ten_byte_file(O_RDWR), &a, &b, list);
	int result = lio_listio(LIO_NOWAIT, list, 2, NULL);
	wait_done(&a);
	wait_done(&b);
	EXPECT(result == 0);
}

static int lio_nowait_requests_complete(void)
{
	struct aiocb a, b, *list[2];
	two_writes(ten_byte_file(O_RDWR), &a, &b, list);
	REQUIRE(lio_listio(LIO_NOWAIT, list, 2, NULL) == 0);
	wait_done(&a);
	wait_done(&b);
	EXPECT(aio_return(&a) == 2 && aio_return(&b) == 2);
}

/* "If the mode argument is LIO_NOWAIT, the function shall return
 * immediately": a read of an empty pipe in the list does not hold it up. */
static int lio_nowait_does_not_block(void)
{
	int fds[2];
	char buffer[4];
	make_pipe(fds);
	struct aiocb r = request(fds[0], buffer, 4, 0);
	struct aiocb* list[1] = {&r};
	r.aio_lio_opcode = LIO_READ;
	REQUIRE(lio_listio(LIO_NOWAIT, list, 1, NULL) == 0);
	int error = aio_error(&r);
	REQUIRE(write(fds[1], "abcd", 4) == 4);
	wait_done(&r);
	EXPECT(error == EINPROGRESS);
}

/* A list that mixes a pending pipe read with a file write, and signals
 * SIGUSR2 when all is done. */
struct signalled_list {
	int fds[2];
	char buffer[4];
	struct aiocb r, w;
	struct aiocb* list[2];
	struct sigevent event;
};

static void start_signalled_list(struct signalled_list* s, int notify)
{
	block_signal(SIGUSR2);
	make_pipe(s->fds);
	s->r = request(s->fds[0], s->buffer, 4, 0);
	s->w = request(ten_byte_file(O_RDWR), "zz", 2, 0);
	s->r.aio_lio_opcode = LIO_READ;
	s->w.aio_lio_opcode = LIO_WRITE;
	s->list[0] = &s->r;
	s->list[1] = &s->w;
	memset(&s->event, 0, sizeof(s->event));
	s->event.sigev_notify = notify;
	s->event.sigev_signo = SIGUSR2;
	s->event.sigev_value.sival_int = 4711;
	REQUIRE(lio_listio(LIO_NOWAIT, s->list, 2, &s->event) == 0);
}

/* "asynchronous notification shall occur ... when all the I/O operations
 * complete": not before. */
static int lio_nowait_no_signal_before_all_done(void)
{
	struct signalled_list s;
	start_signalled_list(&s, SIGEV_SIGNAL);
	wait_done(&s.w);
	int early = receive_signal(SIGUSR2, 100, NULL);
	REQUIRE(write(s.fds[1], "done", 4) == 4);
	wait_done(&s.r);
	EXPECT(!early);
}

static int lio_nowait_signal_when_all_done(void)
{
	struct signalled_list s;
	start_signalled_list(&s, SIGEV_SIGNAL);
	REQUIRE(write(s.fds[1], "done", 4) == 4);
	EXPECT(receive_signal(SIGUSR2, 3000, NULL));
}

static int lio_nowait_signal_value(void)
{
	struct signalled_list s;
	siginfo_t info;
	start_signalled_list(&s, SIGEV_SIGNAL);
	REQUIRE(write(s.fds[1], "done", 4) == 4);
	REQUIRE(receive_signal(SIGUSR2, 3000, &info));
	EXPECT(info.si_value.sival_int == 4711);
}

static int lio_nowait_signal_after_completion(void)
{
	struct signalled_list s;
	start_signalled_list(&s, SIGEV_SIGNAL);
	REQUIRE(write(s.fds[1], "done", 4) == 4);
	REQUIRE(receive_signal(SIGUSR2, 3000, NULL));
	EXPECT(aio_error(&s.r) == 0 && aio_error(&s.w) == 0);
}

static sem_t thread_notified;
static int thread_value;
static pthread_t notification_thread;

static void on_notification(union sigval value)
{
	thread_value = value.sival_int;
	notification_thread = pthread_self();
	sem_post(&thread_notified);
}

static int wait_thread_notification(long ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while (sem_timedwait(&thread_notified, &deadline) != 0)
		if (errno != EINTR)
			return 0;
	return 1;
}

static int lio_nowait_thread_notification(void)
{
	struct signalled_list s;
	REQUIRE(sem_init(&thread_notified, 0, 0) == 0);
	block_signal(SIGUSR2);
	make_pipe(s.fds);
	s.r = request(s.fds[0], s.buffer, 4, 0);
	s.r.aio_lio_opcode = LIO_READ;
	s.list[0] = &s.r;
	memset(&s.event, 0, sizeof(s.event));
	s.event.sigev_notify = SIGEV_THREAD;
	s.event.sigev_notify_function = on_notification;
	s.event.sigev_value.sival_int = 99;
	REQUIRE(lio_listio(LIO_NOWAIT, s.list, 1, &s.event) == 0);
	REQUIRE(write(s.fds[1], "done", 4) == 4);
	REQUIRE(wait_thread_notification(3000));
	EXPECT(thread_value == 99);
}

/* glibc: a LIO_NOWAIT list with nothing to do notifies at once. */
static int lio_nowait_empty_list_notifies(void)
{
	struct sigevent event;
	struct aiocb* list[1] = {NULL};
	block_signal(SIGUSR2);
	memset(&event, 0, sizeof(event));
	event.sigev_notify = SIGEV_SIGNAL;
	event.sigev_signo = SIGUSR2;
	REQUIRE(lio_listio(LIO_NOWAIT, list, 1, &event) == 0);
	EXPECT(receive_signal(SIGUSR2, 2000, NULL));
}

/* "If the mode argument is LIO_WAIT ... the sig argument shall be
 * ignored." */
static int lio_wait_ignores_sig(void)
{
	struct aiocb a, b, *list[2];
	struct sigevent event;
	block_signal(SIGUSR2);
	memset(&event, 0, sizeof(event));
	event.sigev_notify = SIGEV_SIGNAL;
	event.sigev_signo = SIGUSR2;
	two_writes(ten_byte_file(O_RDWR), &a, &b, list);
	REQUIRE(lio_listio(LIO_WAIT, list, 2, &event) == 0);
	EXPECT(!receive_signal(SIGUSR2, 100, NULL));
}

/* glibc: each request of a list also gets its own aio_sigevent
 * notification. */
static int lio_individual_notification(void)
{
	char buffer[4];
	struct aiocb a = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	struct aiocb* list[1] = {&a};
	block_signal(SIGUSR2);
	a.aio_lio_opcode = LIO_READ;
	signal_on_completion(&a, SIGUSR2, 5);
	REQUIRE(lio_listio(LIO_WAIT, list, 1, NULL) == 0);
	EXPECT(receive_signal(SIGUSR2, 2000, NULL));
}

/* [EINVAL] "The mode argument is not a proper value". */
static int lio_bad_mode_einval(void)
{
	struct aiocb a, b, *list[2];
	two_writes(ten_byte_file(O_RDWR), &a, &b, list);
	errno = 0;
	int result = lio_listio(LIO_WAIT + LIO_NOWAIT + 7, list, 2, NULL);
	EXPECT(result == -1 && errno == EINVAL);
}

/* "The LIO_NOP operation causes the list entry to be ignored." */
static int lio_nop_ignored(void)
{
	struct aiocb nop = request(-1, NULL, 4, 0);
	struct aiocb* list[1] = {&nop};
	nop.aio_lio_opcode = LIO_NOP;
	EXPECT(lio_listio(LIO_WAIT, list, 1, NULL) == 0);
}

/* "The array may contain NULL elements, which shall be ignored." */
static int lio_null_entries_ignored(void)
{
	struct aiocb a, b, *pair[2], *list[3];
	two_writes(ten_byte_file(O_RDWR), &a, &b, pair);
	list[0] = NULL;
	list[1] = &a;
	list[2] = NULL;
	EXPECT(lio_listio(LIO_WAIT, list, 3, NULL) == 0 && aio_return(&a) == 2);
}

/* Otherwise (LIO_WAIT) "lio_listio() shall return a value of -1 and set
 * errno"; [EIO] "One or more of the individual I/O operations failed." */
static int lio_wait_failed_request_eio(void)
{
	char buffer[4];
	struct aiocb good = request(ten_byte_file(O_RDWR), buffer, 4, 0), bad = request(-1, buffer, 4, 0);
	struct aiocb* list[2] = {&good, &bad};
	good.aio_lio_opcode = LIO_READ;
	bad.aio_lio_opcode = LIO_READ;
	errno = 0;
	int result = lio_listio(LIO_WAIT, list, 2, NULL);
	EXPECT(result == -1 && errno == EIO);
}

/* "The application may check the error status for each aiocb structure to
 * determine the individual error(s)." */
static int lio_wait_failed_request_status(void)
{
	char buffer[4];
	struct aiocb good = request(ten_byte_file(O_RDWR), buffer, 4, 0), bad = request(-1, buffer, 4, 0);
	struct aiocb* list[2] = {&good, &bad};
	good.aio_lio_opcode = LIO_READ;
	bad.aio_lio_opcode = LIO_READ;
	REQUIRE(lio_listio(LIO_WAIT, list, 2, NULL) == -1);
	EXPECT(aio_error(&good) == 0 && aio_error(&bad) == EBADF);
}

/* glibc: an invalid aio_lio_opcode fails that request with EINVAL (its
 * error status), so a LIO_WAIT list fails with EIO. */
static int lio_wait_invalid_opcode_eio(void)
{
	char buffer[4];
	struct aiocb a = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	struct aiocb* list[1] = {&a};
	a.aio_lio_opcode = 12345;
	errno = 0;
	int result = lio_listio(LIO_WAIT, list, 1, NULL);
	EXPECT(result == -1 && errno == EIO);
}

static int lio_invalid_opcode_status_einval(void)
{
	char buffer[4];
	struct aiocb a = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	struct aiocb* list[1] = {&a};
	a.aio_lio_opcode = 12345;
	REQUIRE(lio_listio(LIO_NOWAIT, list, 1, NULL) == 0);
	wait_done(&a);
	EXPECT(aio_error(&a) == EINVAL && aio_return(&a) == -1);
}

/* A request that cannot be queued makes LIO_NOWAIT fail too (glibc:
 * errno is that request's, EINVAL here). */
static int lio_nowait_bad_reqprio_fails(void)
{
	char buffer[4];
	struct aiocb a = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	struct aiocb* list[1] = {&a};
	a.aio_lio_opcode = LIO_READ;
	a.aio_reqprio = -7;
	errno = 0;
	int result = lio_listio(LIO_NOWAIT, list, 1, NULL);
	EXPECT(result == -1 && (errno == EINVAL || errno == EIO));
}

/* Many requests on one descriptor, all complete. */
static int lio_wait_many(void)
{
	enum { count = 64 };
	static char buffers[count][4];
	static struct aiocb cbs[count];
	struct aiocb* list[count];
	int fd = ten_byte_file(O_RDWR), done = 0;
	for (int i = 0; i < count; i++) {
		cbs[i] = request(fd, buffers[i], 4, i % 7);
		cbs[i].aio_lio_opcode = LIO_READ;
		list[i] = &cbs[i];
	}
	REQUIRE(lio_listio(LIO_WAIT, list, count, NULL) == 0);
	for (int i = 0; i < count; i++)
		done += aio_return(&cbs[i]) == 4;
	EXPECT(done == count);
}

/* A long LIO_NOWAIT list on one file; aio_suspend() on one of its later
 * requests returns once it completed. */
static int lio_nowait_suspend_on_later_request(void)
{
	enum { count = 10, size = 256 * 1024 };
	static char data[count * size];
	static struct aiocb cbs[count];
	struct aiocb* list[count];
	char path[] = "/tmp/aio-conformance-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	REQUIRE(write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	for (int i = 0; i < count; i++) {
		cbs[i] = request(fd, data + i * size, size, (off_t)i * size);
		cbs[i].aio_lio_opcode = LIO_READ;
		list[i] = &cbs[i];
	}
	REQUIRE(lio_listio(LIO_NOWAIT, list, count, NULL) == 0);
	const struct aiocb* wait_for[2] = {NULL, &cbs[6]};
	while (aio_error(&cbs[6]) == EINPROGRESS)
		REQUIRE(aio_suspend(wait_for, 2, NULL) == 0);
	EXPECT(aio_return(&cbs[6]) == size);
}

/* ------------------------------------------------------------------ notification */

/* SIGEV_SIGNAL: "the signal specified in sigev_signo shall be generated". */
static int sigev_signal_delivered(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	block_signal(SIGRTMIN + 1);
	signal_on_completion(&cb, SIGRTMIN + 1, 42);
	REQUIRE(aio_read(&cb) == 0);
	EXPECT(receive_signal(SIGRTMIN + 1, 3000, NULL));
}

/* si_code "SI_ASYNCIO: The signal was generated by the completion of an
 * asynchronous I/O request." */
static int sigev_signal_code_asyncio(void)
{
	char buffer[4];
	siginfo_t info;
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	block_signal(SIGRTMIN + 1);
	signal_on_completion(&cb, SIGRTMIN + 1, 42);
	REQUIRE(aio_read(&cb) == 0);
	REQUIRE(receive_signal(SIGRTMIN + 1, 3000, &info));
	EXPECT(info.si_code == SI_ASYNCIO);
}

/* "the application-defined value ... sigev_value" goes with the signal. */
static int sigev_signal_value(void)
{
	char buffer[4];
	siginfo_t info;
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	block_signal(SIGRTMIN + 1);
	signal_on_completion(&cb, SIGRTMIN + 1, 4242);
	REQUIRE(aio_read(&cb) == 0);
	REQUIRE(receive_signal(SIGRTMIN + 1, 3000, &info));
	EXPECT(info.si_value.sival_int == 4242);
}

/* The notification comes when the request has completed. */
static int sigev_signal_after_completion(void)
{
	int fds[2];
	char buffer[4];
	make_pipe(fds);
	struct aiocb cb = request(fds[0], buffer, 4, 0);
	block_signal(SIGRTMIN + 1);
	signal_on_completion(&cb, SIGRTMIN + 1, 1);
	REQUIRE(aio_read(&cb) == 0);
	REQUIRE(write(fds[1], "abcd", 4) == 4);
	REQUIRE(receive_signal(SIGRTMIN + 1, 3000, NULL));
	EXPECT(aio_error(&cb) == 0);
}

/* SIGEV_THREAD: "The sigev_notify_function shall be called ... with
 * sigev_value as its sole argument". */
static int sigev_thread_called_with_value(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	REQUIRE(sem_init(&thread_notified, 0, 0) == 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = on_notification;
	cb.aio_sigevent.sigev_value.sival_int = 77;
	REQUIRE(aio_read(&cb) == 0);
	REQUIRE(wait_thread_notification(3000));
	EXPECT(thread_value == 77);
}

/* "... as if it were the start function of a new thread". */
static int sigev_thread_runs_in_other_thread(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	REQUIRE(sem_init(&thread_notified, 0, 0) == 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = on_notification;
	REQUIRE(aio_read(&cb) == 0);
	REQUIRE(wait_thread_notification(3000));
	EXPECT(!pthread_equal(notification_thread, pthread_self()));
}

/* SIGEV_NONE: "No asynchronous notification is delivered". */
static int sigev_none_sends_nothing(void)
{
	char buffer[4];
	struct aiocb cb = request(ten_byte_file(O_RDWR), buffer, 4, 0);
	block_signal(SIGRTMIN + 1);
	cb.aio_sigevent.sigev_notify = SIGEV_NONE;
	cb.aio_sigevent.sigev_signo = SIGRTMIN + 1;
	REQUIRE(aio_read(&cb) == 0);
	wait_done(&cb);
	EXPECT(!receive_signal(SIGRTMIN + 1, 100, NULL));
}

/* ------------------------------------------------------------------ races */

struct racing_write {
	int fd;
	long delay_us;
};

static void* racing_write_body(void* argument)
{
	struct racing_write* job = argument;
	struct timespec pause = {0, job->delay_us * 1000};
	nanosleep(&pause, NULL);
	if (write(job->fd, "12345678", 8) != 8)
		perror("racing write");
	return NULL;
}

/* Collects the SIGRTMIN + 2 notifications of one round (values @first and
 * @first + 1): waits up to a second for two, then takes any extra ones.
 * Counts per value in @seen, anything else in *others. */
static void collect_notifications(int first, int seen[2], int* others)
{
	siginfo_t info;
	long ms = 1000;
	seen[0] = seen[1] = 0;
	while (receive_signal(SIGRTMIN + 2, ms, &info)) {
		int k = info.si_value.sival_int - first;
		if (k == 0 || k == 1)
			seen[k]++;
		else
			(*others)++;
		if (seen[0] + seen[1] >= 2)
			ms = 0;
	}
}

/*
 * aio_cancel(fd, NULL) racing with the write that completes a running and
 * a queued request, 200 times (or as many as fit in 1.5 s, at least 20,
 * for slow machines): every request ends exactly once, as done (4 bytes)
 * or cancelled (ECANCELED, -1), with exactly one notification.
 */
static int cancel_racing_completion_exactly_once(void)
{
	int anomalies = 0, others = 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	block_signal(SIGRTMIN + 2);
	for (int round = 0; round < 200 && (round < 20 || elapsed_ms(&start) < 1500); round++) {
		int fds[2];
		char one[4], two[4];
		pthread_t writer;
		struct racing_write job;
		make_pipe(fds);
		struct aiocb a = request(fds[0], one, 4, 0), b = request(fds[0], two, 4, 0);
		signal_on_completion(&a, SIGRTMIN + 2, 2 * round);
		signal_on_completion(&b, SIGRTMIN + 2, 2 * round + 1);
		REQUIRE(aio_read(&a) == 0);
		REQUIRE(aio_read(&b) == 0);
		job.fd = fds[1];
		job.delay_us = (round * 37) % 300;
		REQUIRE(pthread_create(&writer, NULL, racing_write_body, &job) == 0);
		struct timespec pause = {0, round % 3 == 0 ? 0 : ((round * 53) % 300) * 1000};
		nanosleep(&pause, NULL);
		REQUIRE(aio_cancel(fds[0], NULL) != -1);
		pthread_join(writer, NULL);
		struct aiocb* both[2] = {&a, &b};
		for (int k = 0; k < 2; k++) {
			const struct aiocb* list[1] = {both[k]};
			struct timespec limit = {2, 0};
			while (aio_error(both[k]) == EINPROGRESS)
				if (aio_suspend(list, 1, &limit) != 0 && errno == EAGAIN)
					break;
			int error = aio_error(both[k]);
			ssize_t value = aio_return(both[k]);
			if (!((error == 0 && value == 4) || (error == ECANCELED && value == -1)))
				anomalies++;
		}
		int seen[2];
		collect_notifications(2 * round, seen, &others);
		anomalies += (seen[0] != 1) + (seen[1] != 1);
		close(fds[0]);
		close(fds[1]);
	}
	EXPECT(anomalies == 0 && others == 0);
}

/* Four threads submit reads of one file at once, 100 each: all complete
 * with the right data. */
static void* reader_thread_body(void* argument)
{
	int fd = *(int*)argument, good = 0;
	for (int i = 0; i < 100; i++) {
		char buffer[3] = {0};
		struct aiocb cb = request(fd, buffer, 2, i % 9);
		if (aio_read(&cb) != 0)
			continue;
		wait_done(&cb);
		good += aio_return(&cb) == 2 && buffer[0] == '0' + i % 9 && buffer[1] == '1' + i % 9;
	}
	return (void*)(long)good;
}

static int threads_submitting_at_once_all_complete(void)
{
	int fd = ten_byte_file(O_RDWR);
	pthread_t threads[4];
	long good = 0;
	for (int t = 0; t < 4; t++)
		REQUIRE(pthread_create(&threads[t], NULL, reader_thread_body, &fd) == 0);
	for (int t = 0; t < 4; t++) {
		void* result;
		pthread_join(threads[t], &result);
		good += (long)result;
	}
	EXPECT(good == 400);
}

/* ------------------------------------------------------------------ fork */

/* A child of fork() (made while a request of the parent is in progress)
 * can use AIO: its own request on a pipe completes once the pipe is
 * written. */
static int fork_child_can_use_aio(void)
{
	struct pending_read parent;
	int status;
	start_pending_read(&parent);
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct pending_read own;
		alarm(3);
		start_pending_read(&own);
		finish_pending_read(&own);
		_exit(aio_return(&own.cb) == 4 ? 0 : 1);
	}
	REQUIRE(waitpid(child, &status, 0) == child);
	finish_pending_read(&parent);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ------------------------------------------------------------------ runner */

struct test {
	const char* name;
	int (*run)(void);
};

/* clang-format off */
#define TEST(name) {#name, name}
/* clang-format on */
static const struct test tests[] = {
	TEST(read_returns_zero_when_queued),
	TEST(read_return_is_byte_count),
	TEST(read_data_arrives),
	TEST(read_honours_offset),
	TEST(read_short_at_end_of_file),
	TEST(read_past_end_of_file_returns_zero),
	TEST(read_bad_fd_ebadf),
	TEST(read_write_only_fd_ebadf),
	TEST(read_negative_offset_einval),
	TEST(read_bad_reqprio_einval),
	TEST(read_bad_reqprio_sets_error_status),
	TEST(read_empty_pipe_in_progress),
	TEST(read_pipe_completes_after_write),
	TEST(read_socket_in_progress),
	TEST(read_socket_completes_after_send),
	TEST(write_returns_zero_when_queued),
	TEST(write_return_is_byte_count),
	TEST(write_honours_offset),
	TEST(write_append_mode_appends),
	TEST(write_read_only_fd_ebadf),
	TEST(write_bad_fd_ebadf),
	TEST(write_pipe_data_readable),
	TEST(write_full_pipe_in_progress),
	TEST(fsync_o_sync_succeeds),
	TEST(fsync_o_dsync_succeeds),
	TEST(fsync_return_is_zero),
	TEST(fsync_bad_op_einval),
	TEST(fsync_bad_fd_ebadf),
	TEST(fsync_pipe_einval),
	TEST(fsync_after_earlier_writes),
	TEST(error_zero_after_success),
	TEST(error_never_submitted_is_zero),
	TEST(return_minus_one_on_error),
	TEST(suspend_returns_for_completed),
	TEST(suspend_timeout_eagain),
	TEST(suspend_zero_timeout_eagain),
	TEST(suspend_timeout_is_waited_out),
	TEST(suspend_wakes_on_completion),
	TEST(suspend_ignores_null_entries),
	TEST(suspend_any_of_many),
	TEST(suspend_interrupted_eintr),
	TEST(suspend_negative_count_einval),
	TEST(suspend_all_null_returns),
	TEST(suspend_unknown_in_progress_returns),
	TEST(cancel_bad_fd_ebadf),
	TEST(cancel_mismatched_fd_einval),
	TEST(cancel_completed_alldone),
	TEST(cancel_idle_fd_alldone),
	TEST(cancel_never_submitted_alldone),
	TEST(cancel_unknown_in_progress_einval),
	TEST(cancel_queued_canceled),
	TEST(cancel_queued_error_ecanceled),
	TEST(cancel_queued_return_minus_one),
	TEST(cancel_queued_notifies),
	TEST(cancel_queued_never_runs),
	TEST(cancel_running_notcanceled),
	TEST(cancel_running_completes_normally),
	TEST(cancel_all_reports_notcanceled),
	TEST(cancel_all_cancels_queued),
	TEST(cancel_other_fd_untouched),
	TEST(cancel_again_alldone),
	TEST(cancel_then_suspend_returns),
	TEST(lio_wait_returns_zero),
	TEST(lio_wait_all_done_on_return),
	TEST(lio_wait_data_written),
	TEST(lio_wait_return_values),
	TEST(lio_wait_pipe_reader_and_writer),
	TEST(lio_wait_pipe_reader_and_writer_again),
	TEST(lio_nowait_returns_zero),
	TEST(lio_nowait_requests_complete),
	TEST(lio_nowait_does_not_block),
	TEST(lio_nowait_no_signal_before_all_done),
	TEST(lio_nowait_signal_when_all_done),
	TEST(lio_nowait_signal_value),
	TEST(lio_nowait_signal_after_completion),
	TEST(lio_nowait_thread_notification),
	TEST(lio_nowait_empty_list_notifies),
	TEST(lio_wait_ignores_sig),
	TEST(lio_individual_notification),
	TEST(lio_bad_mode_einval),
	TEST(lio_nop_ignored),
	TEST(lio_null_entries_ignored),
	TEST(lio_wait_failed_request_eio),
	TEST(lio_wait_failed_request_status),
	TEST(lio_wait_invalid_opcode_eio),
	TEST(lio_invalid_opcode_status_einval),
	TEST(lio_nowait_bad_reqprio_fails),
	TEST(lio_wait_many),
	TEST(lio_nowait_suspend_on_later_request),
	TEST(sigev_signal_delivered),
	TEST(sigev_signal_code_asyncio),
	TEST(sigev_signal_value),
	TEST(sigev_signal_after_completion),
	TEST(sigev_thread_called_with_value),
	TEST(sigev_thread_runs_in_other_thread),
	TEST(sigev_none_sends_nothing),
	TEST(cancel_racing_completion_exactly_once),
	TEST(threads_submitting_at_once_all_complete),
	TEST(fork_child_can_use_aio),
};

/* 0 passed, 1 failed, 2 timed out, 3 set-up failed, 4 crashed. */
static int run_one(const struct test* test, long timeout_ms)
{
	struct timespec start;
	int status;
	pid_t child;
	fflush(NULL);
	child = fork();
	if (child < 0)
		return 4;
	if (child == 0) {
		current_test = test->name;
		_exit(test->run() ? 0 : 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t done = waitpid(child, &status, WNOHANG);
		if (done == child)
			break;
		if (elapsed_ms(&start) > timeout_ms) {
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			return 2;
		}
		sleep_ms(2);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status) <= 3 ? WEXITSTATUS(status) : 4;
	return 4;
}

static int selected(const char* name, int argc, char** argv, int first)
{
	if (first >= argc)
		return 1;
	for (int i = first; i < argc; i++)
		if (strstr(name, argv[i]) != NULL)
			return 1;
	return 0;
}

int main(int argc, char** argv)
{
	static const char* const outcome[] = {"", "", " # TIMEOUT", " # SET-UP FAILED", " # CRASHED"};
	long timeout_ms = 5000;
	int first = 1, passed = 0, failed = 0, number = 0;
	const int count = (int)(sizeof(tests) / sizeof(tests[0]));
	Dl_info where;

	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < count; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		timeout_ms = atol(argv[2]);
		first = 3;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (dladdr((void*)aio_read, &where) && where.dli_fname)
		printf("# aio_read comes from %s\n", where.dli_fname);
	for (int i = 0; i < count; i++) {
		if (!selected(tests[i].name, argc, argv, first))
			continue;
		const int result = run_one(&tests[i], timeout_ms);
		number++;
		if (result == 0)
			passed++;
		else
			failed++;
		printf("%sok %d %s%s\n", result == 0 ? "" : "not ", number, tests[i].name, outcome[result]);
	}
	printf("# aio-conformance: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
