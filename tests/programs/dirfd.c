/* Opens relative to a real directory fd, for the `dirfd` golden fixture: the
 * PATH record then holds a name relative to that directory, not to the CWD
 * record, and only the process's fd table says where it points.
 *
 * usage: dirfd DIR   (DIR relative to the cwd; the cwd is changed to / before
 * the openat calls, so a resolver that joins with the cwd gets them wrong)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(int dirfd, const char *name, const char *text)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(name);
        return 1;
    }
    ssize_t len = (ssize_t)strlen(text);
    int bad = write(fd, text, len) != len;
    close(fd);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dirfd DIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dir < 0) {
        perror(argv[1]);
        return 1;
    }
    if (chdir("/") != 0)
        return 1;
    mkdirat(dir, "sub", 0755);
    int bad = put(dir, "plain.txt", "plain\n");
    bad |= put(dir, "sub/../sub/nested.txt", "nested\n");
    /* a directory fd opened through another one: the second level resolves too */
    int sub = openat(dir, "sub", O_RDONLY | O_DIRECTORY);
    if (sub < 0)
        return 1;
    bad |= put(sub, "deeper.txt", "deeper\n");
    /* an absolute name ignores the dirfd */
    bad |= put(sub, "/dev/null", "");
    /* a read-only open that fails: ENOENT, relative to the dirfd */
    if (openat(dir, "missing/file", O_RDONLY) >= 0)
        bad = 1;
    close(sub);
    close(dir);
    return bad;
}
