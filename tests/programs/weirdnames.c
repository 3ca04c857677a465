/* Creates and writes files whose names need escaping, for the `weird_names`
 * golden fixture: the kernel writes such names in hex, and godo must give back
 * their exact bytes (non-UTF-8 ones as \xNN escapes in JSON).
 *
 * usage: weirdnames DIR   (DIR is created; names are opened relative to it after
 * chdir, and once more by absolute path)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *names[] = {
    "new\nline",
    "double\"quote",
    "with space",
    "tab\there",
    "bad\xff\xfe" "utf8",
    "caf\xc3\xa9",         /* valid UTF-8, non-ASCII: hex in the record all the same */
    "back\\slash",
    "plain_name",
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: weirdnames DIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) != 0) {
        perror(argv[1]);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int fd = open(names[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            bad = 1;
            continue;
        }
        bad |= write(fd, names[i], strlen(names[i])) < 0;
        close(fd);
    }
    /* by absolute path, through the cwd the kernel reports */
    char cwd[4096], path[4200];
    if (!getcwd(cwd, sizeof cwd))
        return 1;
    snprintf(path, sizeof path, "%s/%s", cwd, names[0]);
    int fd = open(path, O_RDONLY);
    bad |= fd < 0;
    close(fd);
    return bad;
}
