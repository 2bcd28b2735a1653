/* helper_history - the client history tests' shared fixture pieces. */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "util/dstr.h"
#include "helper_history.h"

/* history_test_store - DIR/data and the parameters that use it */
char   *
history_test_store(const char *dir, struct params *p, long long known_min_age)
{
    struct dstr *d = dstr_new(64, 4096);
    char   *data;

    (void) dstr_appendf(d, "%s/data", dir);
    data = dstr_steal(d);
    assert_int_equal(mkdir(data, 0700), 0);
    p->data_directory = data;
    p->client_history_backend = "lmdb";
    p->client_history_ttl = 30 * HISTORY_TEST_DAY;
    p->client_history_max_entries = 100000;
    p->client_history_ipv6_prefix = 64;
    p->client_known_min_messages = 3;
    p->client_known_min_age = known_min_age;
    p->client_suspect_events = 3;
    p->client_suspect_window = HISTORY_TEST_DAY;
    return data;
}

/* history_test_reap - a child a failed test left running */
void
history_test_reap(pid_t *child)
{
    if (*child > 0) {
        kill(*child, SIGKILL);
        waitpid(*child, NULL, 0);
    }
    *child = 0;
}
