/* An independent reading of an audit.log, built on libauparse, that the live
 * agreement test (tests/live/test_auparse_agreement.py) holds godo's cooked events to.
 *
 * usage: auparse_oracle LOG      build: gcc -O2 -o oracle auparse_oracle.c -lauparse
 *
 * Output: one JSON object a line, one per event it has something to say about;
 * every string that comes from the log is given as the hex of its exact bytes, so
 * the JSON needs no escaping and the test compares bytes:
 *
 *   {"serial":N,"kind":"exec","syscall":"execve","success":true,"argv":["HEX",...]}
 *       an execve/execveat event; "argv" only when the event has EXECVE records:
 *       aN, or aN[0] aN[1] ... joined (`aN_len` gives the length), over every
 *       EXECVE record of the event, in argument order; "argc" from the record.
 *   {"serial":N,"kind":"open","syscall":"openat","fd":3,"atcwd":true,"path":"HEX"}
 *       a successful open/openat/openat2/creat; "atcwd" is false for openat and
 *       openat2 whose a0 is a real directory fd (their relative names are not
 *       relative to the cwd, and this oracle cannot know that directory); "path"
 *       is the first PATH item whose nametype is not PARENT, joined with the CWD
 *       record when relative, normalised lexically ("." and ".." and repeated
 *       slashes folded, never above /).
 *
 * Values are taken through auparse_interpret_field in raw escape mode, which
 * undoes the kernel's quoting or hex encoding: the oracle shares no code with
 * godo's parser.
 */
#include <auparse.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 65536

struct arg {
    char *text;   /* whole, or the pieces joined so far */
    size_t len;
    int seen;
};

static struct arg args[MAX_ARGS];
static int max_arg;

static void die(const char *what)
{
    fprintf(stderr, "auparse_oracle: %s\n", what);
    exit(2);
}

static void put_hex(const char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        putchar(digits[c >> 4]);
        putchar(digits[c & 15]);
    }
    putchar('"');
}

static char *copy_interpretation(auparse_state_t *au)
{
    const char *value = auparse_interpret_field(au);
    if (value == NULL)
        die("cannot interpret a field");
    char *out = strdup(value);
    if (out == NULL)
        die("out of memory");
    return out;
}

static void append_arg(int index, const char *text)
{
    if (index < 0 || index >= MAX_ARGS)
        die("argument index out of range");
    struct arg *a = &args[index];
    size_t more = strlen(text);
    a->text = realloc(a->text, a->len + more + 1);
    if (a->text == NULL)
        die("out of memory");
    memcpy(a->text + a->len, text, more + 1);
    a->len += more;
    a->seen = 1;
    if (index + 1 > max_arg)
        max_arg = index + 1;
}

static void reset_args(void)
{
    for (int i = 0; i < max_arg; i++) {
        free(args[i].text);
        args[i].text = NULL;
        args[i].len = 0;
        args[i].seen = 0;
    }
    max_arg = 0;
}

/* Every aN / aN[i] field of the current EXECVE record, appended in order. */
static void read_execve(auparse_state_t *au, long *argc)
{
    if (!auparse_first_field(au))
        return;
    do {
        const char *name = auparse_get_field_name(au);
        if (strcmp(name, "argc") == 0) {
            *argc = strtol(auparse_get_field_str(au), NULL, 10);
            continue;
        }
        if (name[0] != 'a' || strstr(name, "_len") != NULL)
            continue;
        char *end;
        long index = strtol(name + 1, &end, 10);
        if (end == name + 1 || (*end != '\0' && *end != '['))
            continue;
        char *value = copy_interpretation(au);
        append_arg((int)index, value);
        free(value);
    } while (auparse_next_field(au) > 0);
}

/* Lexical normalisation of an absolute path, in place. */
static void normalise(char *path)
{
    char *parts[4096];
    int depth = 0;
    char *save = NULL;
    char *copy = strdup(path);
    if (copy == NULL)
        die("out of memory");
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0)
            continue;
        if (strcmp(part, "..") == 0) {
            if (depth > 0)
                depth--;
            continue;
        }
        if (depth == 4096)
            die("path too deep");
        parts[depth++] = part;
    }
    char *out = path;
    if (depth == 0)
        *out++ = '/';
    for (int i = 0; i < depth; i++) {
        size_t len = strlen(parts[i]);
        *out++ = '/';
        memmove(out, parts[i], len);
        out += len;
    }
    *out = '\0';
    free(copy);
}

/* The field `name` of the current record only. (auparse_find_field would go on
 * into later records of the event and move the record cursor there.) */
static int field(auparse_state_t *au, const char *name)
{
    if (!auparse_first_field(au))
        return 0;
    do {
        if (strcmp(auparse_get_field_name(au), name) == 0)
            return 1;
    } while (auparse_next_field(au) > 0);
    return 0;
}

static int is_open_call(const char *name)
{
    return strcmp(name, "open") == 0 || strcmp(name, "openat") == 0 ||
           strcmp(name, "openat2") == 0 || strcmp(name, "creat") == 0;
}

static int is_exec_call(const char *name)
{
    return strcmp(name, "execve") == 0 || strcmp(name, "execveat") == 0;
}

static void one_event(auparse_state_t *au)
{
    char *syscall = NULL, *cwd = NULL, *path = NULL, *success = NULL;
    long exit_value = 0, argc = -1;
    unsigned long long a0 = 0;
    int have_execve = 0;

    reset_args();
    if (!auparse_first_record(au))
        return;
    do {
        int type = auparse_get_type(au);
        if (type == AUDIT_SYSCALL) {
            if (field(au, "syscall"))
                syscall = copy_interpretation(au);
            if (field(au, "success"))
                success = strdup(auparse_get_field_str(au));
            if (field(au, "exit"))
                exit_value = strtol(auparse_get_field_str(au), NULL, 10);
            if (field(au, "a0"))
                a0 = strtoull(auparse_get_field_str(au), NULL, 16);
        } else if (type == AUDIT_CWD) {
            if (field(au, "cwd"))
                cwd = copy_interpretation(au);
        } else if (type == AUDIT_PATH) {
            if (path == NULL && field(au, "nametype") &&
                strcmp(auparse_get_field_str(au), "PARENT") != 0 &&
                field(au, "name") &&
                strcmp(auparse_get_field_str(au), "(null)") != 0)
                path = copy_interpretation(au);
        } else if (type == AUDIT_EXECVE) {
            have_execve = 1;
            read_execve(au, &argc);
        }
    } while (auparse_next_record(au) > 0);

    if (syscall == NULL)
        goto done;
    int ok = success != NULL && strcmp(success, "yes") == 0;
    if (is_exec_call(syscall)) {
        printf("{\"serial\":%lu,\"kind\":\"exec\",\"syscall\":\"%s\",\"success\":%s",
               auparse_get_serial(au), syscall, ok ? "true" : "false");
        if (have_execve) {
            printf(",\"argc\":%ld,\"argv\":[", argc);
            for (int i = 0; i < max_arg; i++) {
                if (i)
                    putchar(',');
                if (args[i].seen)
                    put_hex(args[i].text, args[i].len);
                else
                    printf("null");   /* a hole: the test fails on it */
            }
            putchar(']');
        }
        printf("}\n");
    } else if (is_open_call(syscall) && ok) {
        int atcwd = 1;
        if (strcmp(syscall, "openat") == 0 || strcmp(syscall, "openat2") == 0)
            atcwd = (unsigned int)(a0 & 0xffffffffu) == 0xffffff9cu;   /* AT_FDCWD */
        printf("{\"serial\":%lu,\"kind\":\"open\",\"syscall\":\"%s\",\"fd\":%ld,\"atcwd\":%s",
               auparse_get_serial(au), syscall, exit_value, atcwd ? "true" : "false");
        if (path != NULL) {
            size_t size = strlen(path) + (cwd ? strlen(cwd) : 0) + 3;
            char *full = malloc(size);
            if (full == NULL)
                die("out of memory");
            if (path[0] == '/' || cwd == NULL)
                snprintf(full, size, "%s%s", path[0] == '/' ? "" : "/", path);
            else
                snprintf(full, size, "%s/%s", cwd, path);
            normalise(full);
            printf(",\"path\":");
            put_hex(full, strlen(full));
            free(full);
        }
        printf("}\n");
    }
done:
    free(syscall);
    free(cwd);
    free(path);
    free(success);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: auparse_oracle LOG\n");
        return 2;
    }
    auparse_state_t *au = auparse_init(AUSOURCE_FILE, argv[1]);
    if (au == NULL) {
        perror(argv[1]);
        return 2;
    }
    auparse_set_escape_mode(au, AUPARSE_ESC_RAW);
    while (auparse_next_event(au) > 0)
        one_event(au);
    auparse_destroy(au);
    return 0;
}
