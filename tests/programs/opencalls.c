/* Opens a file through each open-family system call by number, so a workload
 * exercises all of them whatever the C library prefers (glibc's open() is an
 * openat): open(2), creat(2), openat(2) with AT_FDCWD, openat2(2).
 *
 * usage: opencalls NAME   (creates NAME.open, NAME.creat, NAME.openat,
 * NAME.openat2 relative to the cwd; an openat2 the kernel lacks is skipped)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int done(long fd, const char *what)
{
    if (fd < 0) {
        perror(what);
        return 1;
    }
    close((int)fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: opencalls NAME\n");
        return 2;
    }
    char name[4096];
    int bad = 0;
    snprintf(name, sizeof name, "%s.open", argv[1]);
    bad |= done(syscall(SYS_open, name, O_WRONLY | O_CREAT | O_TRUNC, 0644), name);
    snprintf(name, sizeof name, "%s.creat", argv[1]);
    bad |= done(syscall(SYS_creat, name, 0644), name);
    snprintf(name, sizeof name, "%s.openat", argv[1]);
    bad |= done(syscall(SYS_openat, AT_FDCWD, name, O_WRONLY | O_CREAT | O_TRUNC, 0644), name);
    snprintf(name, sizeof name, "%s.openat2", argv[1]);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_WRONLY | O_CREAT | O_TRUNC;
    how.mode = 0644;
    long fd = syscall(SYS_openat2, AT_FDCWD, name, &how, sizeof how);
    if (!(fd < 0 && errno == ENOSYS))
        bad |= done(fd, name);
    return bad;
}
