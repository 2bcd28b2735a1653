/* fuzz_queue_file - feed arbitrary bytes to the queue file reader. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/dstr.h"
#include "global/queue_file.h"
#include "fuzz.h"

/* fuzz_touch - read every envelope string, so a bad pointer shows */
static size_t
fuzz_touch(const struct queue_file_env *env)
{
    const char *strs[] = {
        env->id, env->sender, env->envid, env->client_addr, env->client_name,
        env->client_helo, env->protocol, env->sasl_username,
        env->tls_protocol, env->tls_cipher, env->tls_peer, env->client_class,
    };
    size_t  n = 0;

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i] != NULL)
            n += strlen(strs[i]);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        n += strlen(env->rcpt[i].address);
        if (env->rcpt[i].orcpt != NULL)
            n += strlen(env->rcpt[i].orcpt);
    }
    return n;
}

/*
 * LLVMFuzzerTestOneInput - the bytes as a queue file in memory (memfd),
 * through the same code path as a file on disk: open, check, envelope,
 * content in odd-sized reads, rewind, content again.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dstr *why;
    struct queue_file_reader *r;
    const struct queue_file_env *env;
    char    buf[4099];
    long long total;
    ssize_t n;
    int     fd;

    if (why == NULL)
        why = dstr_new(256, 4096);
    fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size > 0 && write(fd, data, size) != (ssize_t) size) {
        close(fd);
        return 0;
    }
    r = queue_file_read_fd(fd, "fuzz", why);
    if (r == NULL) {
        if (why->len == 0)
            __builtin_trap();           /* every refusal has a reason */
        return 0;
    }
    env = queue_file_read_env(r);
    (void) fuzz_touch(env);
    if (env->rcpt_count == 0 || env->sender == NULL)
        __builtin_trap();               /* accepted means complete */
    for (int pass = 0; pass < 2; pass++) {
        total = 0;
        while ((n = queue_file_read_content(r, buf,
                                            1 + (size_t) total % sizeof(buf),
                                            why)) > 0)
            total += n;
        /* A file accepted at open reads back whole: it did not change. */
        if (n < 0 || total != env->size)
            __builtin_trap();
        (void) queue_file_read_rewind(r, why);
    }
    queue_file_read_close(r);
    return 0;
}
