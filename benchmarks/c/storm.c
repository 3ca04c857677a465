/* The live benchmark's workload: open/write/close on /dev/null, as fast as the
 * kernel lets it. Every call is one that godo's rules audit, so the loop's rate
 * is set by how fast the audit consumer drains the kernel's queue.
 *
 * usage: storm ITERATIONS   (each iteration is 3 syscalls)
 * prints: syscalls N seconds S rate R
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 100000;
	if (iterations <= 0) {
		fprintf(stderr, "usage: %s ITERATIONS\n", argv[0]);
		return 2;
	}
	double start = now();
	for (long i = 0; i < iterations; i++) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd < 0) {
			perror("open /dev/null");
			return 1;
		}
		if (write(fd, "x", 1) != 1) {
			perror("write /dev/null");
			return 1;
		}
		close(fd);
	}
	double elapsed = now() - start;
	long calls = iterations * 3;
	printf("syscalls %ld seconds %.6f rate %.0f\n", calls, elapsed, calls / elapsed);
	return 0;
}
