/*
 * NAME
 *     helper_history - the client history tests' shared fixture pieces
 * SYNOPSIS
 *     #include "helper_history.h"
 *
 *     data = history_test_store(dir, &p, known_min_age);
 *     history_test_reap(&child);
 * DESCRIPTION
 *     history_test_store() makes DIR/data (mode 0700) and sets in *p the
 *     parameters both history test files use: an lmdb store there, a
 *     30-day ttl, /64 IPv6 keys, known after 3 messages and known_min_age,
 *     suspect after 3 abuse events in a day. It returns the data path
 *     (the caller frees it). history_test_reap() kills and reaps a child
 *     a failed test left running, if *child is set.
 */
#ifndef DOPPEL_TESTS_HELPER_HISTORY_H
#define DOPPEL_TESTS_HELPER_HISTORY_H

#include <sys/types.h>

#include "conf/params.h"

#define HISTORY_TEST_HOUR (3600 * 1000LL)
#define HISTORY_TEST_DAY (24 * HISTORY_TEST_HOUR)

char   *history_test_store(const char *dir, struct params *p,
                           long long known_min_age);
void    history_test_reap(pid_t *child);

#endif
