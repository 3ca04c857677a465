/* A 64-bit program that makes 32-bit system calls (`int $0x80`: the kernel's
 * i386 table, audited as arch=40000003), as a 32-bit program would on x86_64:
 * open(2) a file for writing and write to it, creat(2) another, close both, and
 * execve(2) a program, every call by its i386 number.
 *
 * usage: compat32 WRITTEN CREATED PROGRAM
 *
 * Exits 77 when the kernel has no IA32 emulation (int $0x80 gives -ENOSYS), so
 * the test can tell a missing feature from a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

enum { NR_EXIT_GROUP = 252, NR_WRITE = 4, NR_OPEN = 5, NR_CLOSE = 6, NR_CREAT = 8, NR_EXECVE = 11 };
enum { O_WRONLY_ = 01, O_CREAT_ = 0100, O_TRUNC_ = 01000 };

static long sys32(long nr, long a, long b, long c)
{
    long ret;
    /* The 32-bit entry saves no 64-bit-only registers for us: r8-r11 may change. */
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

/* The i386 calls read 32-bit pointers: everything they point at lives below 4 GiB. */
static char *low;
static size_t used;

static uint32_t low_copy(const void *data, size_t n)
{
    char *at = low + used;
    memcpy(at, data, n);
    used += (n + 7) & ~(size_t)7;
    return (uint32_t)(uintptr_t)at;
}

static uint32_t low_string(const char *s)
{
    return low_copy(s, strlen(s) + 1);
}

int main(int argc, char **argv)
{
    static const char text[] = "32-bit\n";
    long fd;
    if (argc != 4) {
        fprintf(stderr, "usage: compat32 WRITTEN CREATED PROGRAM\n");
        return 2;
    }
    low = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    fd = sys32(NR_OPEN, low_string(argv[1]), O_WRONLY_ | O_CREAT_ | O_TRUNC_, 0644);
    if (fd == -ENOSYS)
        return 77;
    if (fd < 0) {
        fprintf(stderr, "open: %s\n", strerror((int)-fd));
        return 1;
    }
    if (sys32(NR_WRITE, fd, low_copy(text, sizeof text - 1), sizeof text - 1) != sizeof text - 1)
        return 1;
    sys32(NR_CLOSE, fd, 0, 0);
    fd = sys32(NR_CREAT, low_string(argv[2]), 0600, 0);
    if (fd < 0) {
        fprintf(stderr, "creat: %s\n", strerror((int)-fd));
        return 1;
    }
    sys32(NR_CLOSE, fd, 0, 0);

    /* execve's argv and envp are arrays of 32-bit pointers here. */
    uint32_t args[2] = {low_string(argv[3]), 0};
    uint32_t env[1] = {0};
    uint32_t path = args[0], vec = low_copy(args, sizeof args), envp = low_copy(env, sizeof env);
    long ret = sys32(NR_EXECVE, path, vec, envp);
    fprintf(stderr, "execve: %s\n", strerror((int)-ret));
    sys32(NR_EXIT_GROUP, 3, 0, 0);
    return 3;
}
