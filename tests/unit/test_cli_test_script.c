/* test_cli_test_script - the doppel test script parser: statements, errors. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/dstr.h"
#include "cli/cli_test_script.h"

/* an in-memory file system for includes and "data file" */
struct memfile {
    const char *name;
    const char *text;
};

static const struct memfile *memfs;

/* mem_load - the loader: a file from memfs, or "cannot open" */
static int
mem_load(void *ctx, const char *path, struct dstr *out, struct dstr *err)
{
    const struct memfile *f;

    (void) ctx;
    for (f = memfs; f != NULL && f->name != NULL; f++)
        if (strcmp(f->name, path) == 0)
            return dstr_append_str(out, f->text) < 0 ? -1 : 0;
    (void) dstr_append_str(err, "cannot open: No such file or directory");
    return -1;
}

/* parse - parse text as dir/main.dt with memfs and defines; err kept */
static struct cli_test_script *
parse(const char *text, const struct memfile *files,
      const char *const *defines, struct dstr *err)
{
    struct cli_test_parse_opts o = CLI_TEST_PARSE_OPTS_INIT;
    struct cli_test_script *s = NULL;

    memfs = files;
    o.load = mem_load;
    o.defines = defines;
    dstr_reset(err);
    (void) cli_test_script_parse_buf(&s, "dir/main.dt", text, strlen(text),
                                     &o, err);
    return s;
}

/* parse_ok - parse, asserting success */
static struct cli_test_script *
parse_ok(const char *text, const struct memfile *files,
         const char *const *defines)
{
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_script *s = parse(text, files, defines, err);

    if (s == NULL)
        fail_msg("parse failed: %s", err->data);
    dstr_free(err);
    return s;
}

/* parse_err - parse, asserting failure with exactly this message */
static void
parse_err(const char *text, const struct memfile *files, const char *want)
{
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_script *s = parse(text, files, NULL, err);

    if (s != NULL)
        fail_msg("parse of <<%s>> succeeded, wanted: %s", text, want);
    if (strcmp(err->data, want) != 0)
        fail_msg("for <<%s>>\n got: %s want: %s", text, err->data, want);
    dstr_free(err);
}

/* assert_data - a step's bytes */
static void
assert_data(const struct cli_test_step *st, const char *want)
{
    assert_int_equal(st->len, strlen(want));
    assert_memory_equal(st->data, want, st->len);
}

static void
test_statements(void **state)
{
    struct cli_test_script *s;
    const struct cli_test_step *st;

    (void) state;
    s = parse_ok("# a comment\n"
                 "\n"
                 "connect\n"                                    /* 0 */
                 "connect 127.0.0.1:2526 tls as second\n"       /* 1 */
                 "use second\n"                                 /* 2 */
                 "send EHLO client.example\n"                   /* 3 */
                 "expect 250|251 2.1.5 /^PIPELINING$/i within 500ms\n" /* 4 */
                 "pipeline\n"                                   /* 5 */
                 "  MAIL FROM:<a@b>\n"
                 "  # not sent\n"
                 "  RCPT TO:<c@d>\n"
                 "end\n"
                 "raw \"MAIL FR\" \"OM:<>\\r\\n\\x00\"\n"        /* 6 */
                 "timeout 2s\n"
                 "expect 5xx !/OK/\n"                           /* 7 */
                 "expect-close within 3s\n"                     /* 8 */
                 "xclient ADDR=2001:db8::1 HELO=\"my host\" LOGIN=a+b=c\n" /* 9 */
                 "starttls\n"                                   /* 10 */
                 "data <<EOF\n"                                 /* 11 */
                 "Subject: x\n"
                 "\n"
                 ".leading dot\n"
                 "EOF\n"
                 "body <<'END'\n"                               /* 12 */
                 "$notexpanded\n"
                 "END\n"
                 "sleep 250ms\n"                                /* 13 */
                 "close\n"                                      /* 14 */
                 "time-limit 1m\n", NULL, NULL);
    assert_int_equal(s->nsteps, 15);
    assert_int_equal(s->time_limit_ms, 60000);

    st = &s->steps[0];
    assert_int_equal(st->op, CLI_TEST_OP_CONNECT);
    assert_null(st->data);
    assert_string_equal(st->file, "dir/main.dt");
    assert_int_equal(st->line, 3);
    st = &s->steps[1];
    assert_string_equal(st->data, "127.0.0.1:2526");
    assert_true(st->tls);
    assert_string_equal(st->name, "second");
    assert_int_equal(s->steps[2].op, CLI_TEST_OP_USE);
    assert_string_equal(s->steps[2].name, "second");

    assert_int_equal(s->steps[3].op, CLI_TEST_OP_SEND);
    assert_data(&s->steps[3], "EHLO client.example\r\n");
    assert_string_equal(s->steps[3].text, "send EHLO client.example");

    st = &s->steps[4];
    assert_int_equal(st->op, CLI_TEST_OP_EXPECT);
    assert_int_equal(st->expect.ncodes, 2);
    assert_string_equal(st->expect.codes[0], "250");
    assert_string_equal(st->expect.codes[1], "251");
    assert_string_equal(st->expect.enh, "2.1.5");
    assert_non_null(st->expect.re);
    assert_false(st->expect.negate);
    assert_string_equal(st->expect.re_text, "/^PIPELINING$/i");
    assert_int_equal(st->timeout_ms, 500);

    assert_data(&s->steps[5], "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n");
    assert_int_equal(s->steps[5].line, 8);
    assert_int_equal(s->steps[6].len, 15);     /* the NUL counts */
    assert_memory_equal(s->steps[6].data, "MAIL FROM:<>\r\n\0", 15);

    st = &s->steps[7];
    assert_string_equal(st->expect.codes[0], "5xx");
    assert_true(st->expect.negate);
    assert_int_equal(st->timeout_ms, 2000);
    assert_int_equal(s->steps[8].op, CLI_TEST_OP_EXPECT_CLOSE);
    assert_int_equal(s->steps[8].timeout_ms, 3000);

    st = &s->steps[9];
    assert_int_equal(st->op, CLI_TEST_OP_XCLIENT);
    assert_data(st, "XCLIENT ADDR=IPv6:2001:db8::1 HELO=my+20host "
                "LOGIN=a+2Bb+3Dc\r\n");
    assert_string_equal(st->xattrs, "ADDR HELO LOGIN");
    assert_int_equal(s->steps[10].op, CLI_TEST_OP_STARTTLS);

    st = &s->steps[11];
    assert_int_equal(st->op, CLI_TEST_OP_DATA);
    assert_data(st, "Subject: x\r\n\r\n..leading dot\r\n.\r\n");
    assert_string_equal(st->text, "data <<EOF");
    assert_int_equal(s->steps[12].op, CLI_TEST_OP_BODY);
    assert_data(&s->steps[12], "$notexpanded\r\n.\r\n");
    assert_int_equal(s->steps[13].op, CLI_TEST_OP_SLEEP);
    assert_int_equal(s->steps[13].timeout_ms, 250);
    assert_int_equal(s->steps[14].op, CLI_TEST_OP_CLOSE);
    assert_true(cli_test_script_checks(&s->steps[4]));
    assert_false(cli_test_script_checks(&s->steps[3]));
    cli_test_script_free(s);
}

static void
test_variables(void **state)
{
    static const char *const defs[] = {"server=127.0.0.1:25", "who=cmdline",
                                       NULL};
    struct cli_test_script *s;

    (void) state;
    s = parse_ok("set domain example.com\n"
                 "default who script\n"                 /* -D wins */
                 "default other fallback\n"
                 "send MAIL FROM:<a@$domain> ${who}x $other $$5 $server\n"
                 "expect 250 /^a$|b$/\n"               /* $ anchors stay */
                 "set domain example.org\n"
                 "send $domain\n", NULL, defs);
    assert_data(&s->steps[0], "MAIL FROM:<a@example.com> cmdlinex fallback "
                "$5 127.0.0.1:25\r\n");
    assert_string_equal(s->steps[1].expect.re_text, "/^a$|b$/");
    assert_data(&s->steps[2], "example.org\r\n");
    cli_test_script_free(s);
}

static void
test_repeat_and_if(void **state)
{
    static const char *const defs[] = {"target=stress", NULL};
    struct cli_test_script *s;
    size_t  i;

    (void) state;
    s = parse_ok("repeat 3 as i\n"
                 "  repeat 2 as j\n"
                 "    send RCPT $i.$j\n"
                 "  end\n"
                 "end\n"
                 "if $target == stress\n"
                 "  send S\n"
                 "  pipeline\n"
                 "    if this is not a statement here\n"
                 "  end\n"
                 "else\n"
                 "  send N\n"
                 "  data <<EOF\n"
                 "end\n"
                 "EOF\n"
                 "end\n"
                 "if $target != stress\n"
                 "  send X\n"
                 "end\n", NULL, defs);
    assert_int_equal(s->nsteps, 8);
    for (i = 0; i < 6; i++) {
        char    want[32];

        (void) snprintf(want, sizeof(want), "RCPT %zu.%zu\r\n", i / 2 + 1,
                        i % 2 + 1);
        assert_data(&s->steps[i], want);
        assert_int_equal(s->steps[i].line, 3);
    }
    assert_data(&s->steps[6], "S\r\n");
    assert_data(&s->steps[7], "if this is not a statement here\r\n");
    cli_test_script_free(s);
}

static void
test_includes(void **state)
{
    static const struct memfile files[] = {
        {"dir/lib/hello.inc", "set greeting 220\nexpect $greeting\n"
         "include more.inc\n"},
        {"dir/lib/more.inc", "send EHLO x\n"},
        {"dir/body.eml", "Subject: y\n.\nlast"},
        {"dir/loop1.inc", "\ninclude loop2.inc\n"},
        {"dir/loop2.inc", "include loop1.inc\n"},
        {"dir/bad.inc", "send ok\nexpect 99\n"},
        {"dir/deep.inc", "include deep.inc\n"},
        {NULL, NULL},
    };
    struct cli_test_script *s;

    (void) state;
    s = parse_ok("connect\ninclude lib/hello.inc\ndata file body.eml\n",
                 files, NULL);
    assert_int_equal(s->nsteps, 4);
    assert_string_equal(s->steps[1].file, "dir/lib/hello.inc");
    assert_int_equal(s->steps[1].line, 2);
    assert_string_equal(s->steps[2].file, "dir/lib/more.inc");
    assert_data(&s->steps[3], "Subject: y\r\n..\r\nlast\r\n.\r\n");
    cli_test_script_free(s);

    parse_err("include loop1.inc\n", files,
              "dir/loop2.inc:1: include loop: dir/loop1.inc -> "
              "dir/loop2.inc -> dir/loop1.inc\n");
    parse_err("include bad.inc\n", files,
              "dir/bad.inc:2: expect: \"99\" is not a reply code (use three "
              "digits such as 250, or 2xx, 25x; alternatives as 250|251)\n");
    parse_err("\ninclude nothere.inc\n", files,
              "dir/main.dt:2: include dir/nothere.inc: cannot open: No such "
              "file or directory\n");
    parse_err("data file none.eml\n", files,
              "dir/main.dt:1: dir/none.eml: cannot open: No such file or "
              "directory\n");
}

static void
test_include_depth(void **state)
{
    static const struct memfile files[] = {
        {"dir/a0.inc", "include a1.inc\n"}, {"dir/a1.inc", "include a2.inc\n"},
        {"dir/a2.inc", "include a3.inc\n"}, {"dir/a3.inc", "include a4.inc\n"},
        {"dir/a4.inc", "include a5.inc\n"}, {"dir/a5.inc", "include a6.inc\n"},
        {"dir/a6.inc", "include a7.inc\n"}, {"dir/a7.inc", "include a8.inc\n"},
        {"dir/a8.inc", "send deep\n"},
        {NULL, NULL},
    };

    (void) state;
    parse_err("include a0.inc\n", files,
              "dir/a6.inc:1: include a7.inc: more than 8 nested includes\n");
}

/* one bad script and its message */
struct bad_case {
    const char *text;
    const char *msg;
};

static void
test_errors(void **state)
{
    static const struct bad_case cases[] = {
        {"frobnicate\n", "1: unknown statement \"frobnicate\" (see "
         "doppel-test(1) for the list)"},
        {"send $nope\n", "1: undefined variable $nope"},
        {"send ${x\n", "1: ${x: missing \"}\""},
        {"set 9x y\n", "1: use: set NAME VALUE (NAME: letters, digits, _)"},
        {"expect\n", "1: expect: \"\" is not a reply code (use three digits "
         "such as 250, or 2xx, 25x; alternatives as 250|251)"},
        {"expect 250 /a(/\n", "1: expect: bad regular expression /a(/: "
         "missing closing parenthesis at offset 2"},
        {"expect 250 /abc\n", "1: expect: regular expression without "
         "closing \"/\""},
        {"expect 250 /a/x\n", "1: expect: unknown regular expression flag "
         "\"x\" (only i)"},
        {"expect 250 /a/ /b/\n", "1: expect: only one regular expression"},
        {"expect 250 junk\n", "1: expect: unexpected \"junk\" (use: expect "
         "CODE [X.Y.Z] [/REGEX/] [within TIME])"},
        {"expect 250 within 10q\n", "1: within: \"10q\" is not a time (use "
         "ms, s, m or h, e.g. 500ms or 10s)"},
        {"expect 250 within 2h\n", "1: within: \"2h\" is out of range (1ms "
         "to 3600s)"},
        {"expect-close soon\n", "1: use: expect-close [within TIME]"},
        {"timeout\n", "1: use: timeout TIME (e.g. timeout 10s)"},
        {"sleep 0\n", "1: sleep: \"0\" is out of range (1ms to 3600s)"},
        {"xclient\n", "1: xclient: no attributes (e.g. xclient "
         "ADDR=192.0.2.1 NAME=client.example)"},
        {"xclient FOO=1\n", "1: xclient: \"FOO=1\": use ATTR=VALUE with ATTR "
         "one of NAME REVERSE_NAME ADDR PORT PROTO HELO LOGIN DESTADDR "
         "DESTPORT"},
        {"xclient ADDR=300.1.1.1\n", "1: xclient: ADDR=300.1.1.1: not an "
         "IPv4 or IPv6 address"},
        {"xclient PORT=70000\n", "1: xclient: PORT=70000: not a port number "
         "(0-65535)"},
        {"xclient PROTO=HTTP\n", "1: xclient: PROTO=HTTP: use SMTP or ESMTP"},
        {"connect a:1 b:2\n", "1: connect: unexpected \"b:2\" (use: connect "
         "[HOST:PORT] [tls] [as NAME])"},
        {"connect as\n", "1: connect: \"as\" needs a session name"},
        {"use\n", "1: use: name one session"},
        {"close now\n", "1: close takes no arguments"},
        {"raw \"abc\n", "1: missing closing \""},
        {"raw \"\\q\"\n", "1: unknown escape \"\\q\" (use \\\\ \\\" \\r \\n "
         "\\t or \\xHH)"},
        {"raw \"\\x4\"\n", "1: \\x needs two hex digits"},
        {"raw\n", "1: raw needs text, e.g. raw \"MAIL FROM:<>\\r\\n\""},
        {"pipeline\nMAIL\n", "1: pipeline without end"},
        {"pipeline\nend\n", "1: empty pipeline"},
        {"repeat 0\nend\n", "1: repeat needs a count from 1 to 10000"},
        {"repeat 2 times\nend\n", "1: use: repeat N [as NAME]"},
        {"repeat 2\nsend x\n", "1: repeat without end"},
        {"repeat 2\nelse\nend\n", "2: else without if"},
        {"end\n", "1: end without pipeline, repeat or if"},
        {"else\n", "1: else without if"},
        {"if a b\nend\n", "1: use: if $NAME == VALUE, if $NAME != VALUE, or "
         "if $NAME"},
        {"if x\nsend a\n", "1: if without end"},
        {"if x\nelse\nelse\nend\n", "3: second else in one if"},
        {"end x\n", "1: end without pipeline, repeat or if"},
        {"if x\nend now\n", "2: end takes no arguments"},
        {"data <<EOF\nabc\n", "1: no line \"EOF\" ends this text"},
        {"data <<\n", "1: <<WORD: use a word such as <<EOF, or <<'EOF' for "
         "no variable expansion"},
        {"data\n", "1: use: data <<EOF (then the message and a line EOF) or "
         "data file PATH"},
        {"include\n", "1: include needs a file name"},
        {"include a b\n", "1: include: one file name only"},
        {"send x\n\nsend \x01\0\n", "3: file contains a NUL byte"},
        {"repeat 10000\nrepeat 10000\nsend x\nend\nend\n",
         "3: more than 100000 steps (check the repeat counts)"},
        {"repeat 10000\nrepeat 10000\nset a b\nend\nend\n",
         "3: script expands to more than 2000000 lines (check the repeat "
         "counts)"},
    };
    struct dstr *want = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_parse_opts o = CLI_TEST_PARSE_OPTS_INIT;
    struct cli_test_script *s;
    size_t  i, len;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dstr_reset(err);
        /* the NUL case has a NUL inside: measure up to the final \n */
        len = strlen(cases[i].text);
        if (strstr(cases[i].msg, "NUL") != NULL)
            len = 16;
        s = NULL;
        (void) cli_test_script_parse_buf(&s, "t.dt", cases[i].text, len, &o,
                                         err);
        dstr_set_str(want, "t.dt:");
        dstr_append_str(want, cases[i].msg);
        dstr_append_char(want, '\n');
        if (s != NULL || strcmp(err->data, want->data) != 0)
            fail_msg("case %zu <<%s>>\n got: %s want: %s", i, cases[i].text,
                     err->data, want->data);
    }
    dstr_free(want);
    dstr_free(err);
}

static void
test_long_lines(void **state)
{
    struct dstr *text = dstr_new(64, DSTR_UNLIMITED);
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_script *s;
    size_t  i;

    (void) state;
    dstr_append_str(text, "send ");
    for (i = 0; i < 1000; i++)
        dstr_append_char(text, 'x');
    dstr_append_char(text, '\n');
    s = parse(text->data, NULL, NULL, err);
    assert_null(s);
    assert_string_equal(err->data, "dir/main.dt:1: line is longer than SMTP "
                        "allows (1000 bytes with CRLF); use raw to send it "
                        "anyway\n");
    dstr_reset(text);
    for (i = 0; i < 5000; i++)
        dstr_append_char(text, '#');
    s = parse(text->data, NULL, NULL, err);
    assert_null(s);
    assert_string_equal(err->data, "dir/main.dt:1: line is longer than 4096 "
                        "bytes\n");
    dstr_free(text);
    dstr_free(err);
}

static void
test_file_errors(void **state)
{
    struct cli_test_parse_opts o = CLI_TEST_PARSE_OPTS_INIT;
    struct dstr *err = dstr_new(64, DSTR_UNLIMITED);
    struct cli_test_script *s = NULL;
    char   *dir = testutil_tmpdir();
    char   *main_path, *inc;

    (void) state;
    assert_int_equal(cli_test_script_parse_file(&s, "/nonexistent/x.dt", &o,
                                                err), -1);
    assert_string_equal(err->data, "/nonexistent/x.dt: cannot open: No such "
                        "file or directory\n");
    /* a real file system: includes relative to the script, and a loop */
    inc = testutil_write_file(dir, "self.inc", "include self.inc\n", 17);
    main_path = testutil_write_file(dir, "m.dt", "connect\ninclude self.inc\n",
                                    25);
    dstr_reset(err);
    assert_int_equal(cli_test_script_parse_file(&s, main_path, &o, err), -1);
    assert_non_null(strstr(err->data, "self.inc:1: include loop: "));
    free(inc);
    free(main_path);
    testutil_rmtree(dir);
    free(dir);
    dstr_free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_repeat_and_if),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_include_depth),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_file_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
