/* libauparse's cost of reading an audit.log: the baseline godo's offline hot path
 * is measured against (benchmarks/offline.py).
 *
 * "Walking every field" here means, for every event, every record of it, and
 * every field of that record: fetch the record type, the field's name and its
 * raw value (auparse_get_field_name, auparse_get_field_str) and read the value
 * through to its end. That is the least any consumer of the fields must do, and
 * it is what godo's parser does for each field it keeps. auparse_interpret_field
 * is left out on purpose: it maps uids to names and syscall numbers to names
 * through lookup tables, work godo does not do per field, and would only make
 * the baseline slower (and the ratio flatter for godo).
 *
 * usage: auparse_walk AUDIT_LOG
 * prints: records N events N fields N seconds S
 */
#include <auparse.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s AUDIT_LOG\n", argv[0]);
		return 2;
	}
	double start = now();
	auparse_state_t *au = auparse_init(AUSOURCE_FILE, argv[1]);
	if (au == NULL) {
		perror("auparse_init");
		return 1;
	}
	unsigned long events = 0, records = 0, fields = 0, bytes = 0, types = 0;
	int rc;
	while ((rc = auparse_next_event(au)) > 0) {
		events++;
		do {
			records++;
			types += (unsigned)auparse_get_type(au);
			if (auparse_first_field(au) <= 0)
				continue;
			do {
				const char *name = auparse_get_field_name(au);
				const char *value = auparse_get_field_str(au);
				fields++;
				/* Sums the bytes so the compiler cannot drop the reads. */
				if (name)
					bytes += (unsigned char)name[0];
				if (value)
					bytes += strlen(value);
			} while (auparse_next_field(au) > 0);
		} while (auparse_next_record(au) > 0);
	}
	double elapsed = now() - start;
	auparse_destroy(au);
	if (rc < 0) {
		fprintf(stderr, "auparse_next_event failed\n");
		return 1;
	}
	printf("records %lu events %lu fields %lu seconds %.6f checksum %lu\n",
	       records, events, fields, elapsed, bytes + types);
	return 0;
}
