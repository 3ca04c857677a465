/* Threads that each open, write and close a file of their own, for the `threads`
 * golden fixture: the kernel reports every thread's syscalls under the process's
 * pid (the thread-group id), so godo must give all of them to the one process.
 *
 * usage: threads N   (writes thread-0.txt .. thread-<N-1>.txt in the cwd)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t all_started;

static void *work(void *arg)
{
    long index = (long)arg;
    char name[64], line[64];
    /* every thread exists before any writes: they overlap, not run one by one */
    pthread_barrier_wait(&all_started);
    snprintf(name, sizeof name, "thread-%ld.txt", index);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return (void *)1;
    int len = snprintf(line, sizeof line, "written by thread %ld\n", index);
    if (write(fd, line, len) != len)
        return (void *)1;
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 3;
    if (n < 1 || n > 64) {
        fprintf(stderr, "usage: threads N (1..64)\n");
        return 2;
    }
    pthread_t tids[64];
    pthread_barrier_init(&all_started, NULL, (unsigned)n);
    for (long i = 0; i < n; i++)
        if (pthread_create(&tids[i], NULL, work, (void *)i) != 0)
            return 1;
    int failed = 0;
    for (long i = 0; i < n; i++) {
        void *result;
        pthread_join(tids[i], &result);
        failed |= result != NULL;
    }
    return failed;
}
