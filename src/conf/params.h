/*
 * NAME
 *     params - the parameter table: every doppel.cf parameter, declared once
 * SYNOPSIS
 *     #include "conf/params.h"
 * DESCRIPTION
 *     param_table[] lists each parameter with its type, built-in
 *     default, built-in stress default (per-session parameters only;
 *     NULL means "the same as the normal default"), bounds, flags, the
 *     offset of its field in struct params, and a one-line summary.
 *
 *     struct params is one compiled personality: every parameter typed
 *     and checked. Its field names are the parameter names. It is built
 *     by conf/personality.c once per configuration load and never
 *     changed afterwards; sessions hold const pointers to it.
 *
 *     Adding a parameter is adding a field here and a row in params.c;
 *     the loader, `doppel conf` and the tests pick it up from the table.
 * RULES
 *     Times are milliseconds; PARAM_F_OFF times store "off" as -1.
 *     Sizes are bytes. Lists are split on white space and commas, with
 *     { ... } kept as one item (inline: tables).
 * SEE ALSO
 *     conf/personality.h, docs/man/doppel.cf.5
 */
#ifndef DOPPEL_CONF_PARAMS_H
#define DOPPEL_CONF_PARAMS_H

#include <stddef.h>

#include "util/dstr.h"

enum param_type {
    PARAM_STRING,
    PARAM_BOOL,
    PARAM_INT,
    PARAM_TIME,                        /* milliseconds */
    PARAM_SIZE,                        /* bytes */
    PARAM_LIST,                        /* words or names */
    PARAM_MAPLIST,                     /* type:name lookup tables */
    PARAM_RATIO,                       /* 0..1 */
};

#define PARAM_F_SESSION 0x1             /* per-session: has doppelgangers */
#define PARAM_F_OFF     0x2             /* a time that may be "off" (-1) */

struct param_list {
    size_t  count;
    char  **items;
};

struct param_def {
    const char *name;
    enum param_type type;
    const char *dflt;                  /* built-in default */
    const char *stress_dflt;           /* built-in stress default or NULL */
    long long min;                     /* INT, TIME (ms), SIZE bounds */
    long long max;
    unsigned flags;
    char    unit;                      /* TIME: unit of a bare number */
    size_t  offset;                    /* of the field in struct params */
    const char *summary;               /* one line for docs and -v */
};

/* One compiled personality. Field names are parameter names. */
struct params {
    /* identity and places */
    char   *config_directory;
    char   *myhostname;
    char   *mydomain;
    char   *myorigin;
    char   *mail_name;
    char   *mail_owner;
    char   *queue_directory;
    char   *data_directory;
    char   *run_directory;
    struct param_list mynetworks;
    struct param_list mydestination;
    struct param_list relay_domains;

    /* master and stress */
    long long smtpd_client_limit;
    long long smtpd_client_reserve;
    struct param_list smtpd_client_reserve_classes;
    double  master_stress_clear_ratio;
    long long master_stress_clear_delay;
    int     master_stress_tighten_sessions;
    long long master_stress_evict_idle;
    long long master_stress_evict_penalty;
    char   *metrics_listen;
    long long master_shutdown_timeout;

    /* smtpd, not per session */
    char   *smtpd_tls_cert_file;
    char   *smtpd_tls_key_file;
    struct param_list smtpd_authorized_xclient_hosts;
    struct param_list smtpd_authorized_xforward_hosts;
    struct param_list smtpd_client_class_maps;

    /* smtpd, per session (these have doppelgangers) */
    char   *smtpd_banner;
    long long smtpd_timeout;
    long long smtpd_hard_error_limit;
    long long smtpd_soft_error_limit;
    long long smtpd_error_sleep_time;
    long long smtpd_junk_command_limit;
    long long smtpd_recipient_limit;
    long long message_size_limit;
    int     smtpd_helo_required;
    int     smtpd_forbid_bare_newline;
    int     smtpd_per_request_deadline;
    long long smtpd_min_data_rate;
    long long smtpd_greet_pause;
    int     disable_vrfy_command;
    int     smtpd_delay_reject;
    struct param_list smtpd_client_restrictions;
    struct param_list smtpd_helo_restrictions;
    struct param_list smtpd_sender_restrictions;
    struct param_list smtpd_relay_restrictions;
    struct param_list smtpd_recipient_restrictions;
    struct param_list smtpd_data_restrictions;
    struct param_list smtpd_end_of_data_restrictions;

    /* smtpd engine: fields added by the SMTP engine work go here */
    long long smtpd_command_line_limit;    /* per session */
    long long smtpd_starttls_timeout;      /* per session */
    long long smtpd_peername_lookup_timeout;       /* per session */
    int     smtpd_peername_lookup;
    int     smtpd_chroot;
    long long smtpd_queue_threads;

    long long smtpd_client_connection_count_limit;     /* per session */
    long long smtpd_client_connection_rate_limit;      /* per session */
    long long smtpd_client_message_rate_limit;         /* per session */
    long long smtpd_client_recipient_rate_limit;       /* per session */
    char   *smtpd_early_talker_action;                 /* per session */
    struct param_list smtpd_milters;                   /* per session */
    struct param_list smtpd_restriction_classes;
    struct param_list local_recipient_maps;
    struct param_list relay_recipient_maps;
    long long anvil_rate_time_unit;
    struct param_list smtpd_client_event_limit_exceptions;
    long long smtpd_policy_service_timeout;
    long long smtpd_policy_service_max_idle;
    long long smtpd_policy_service_max_ttl;
    long long smtpd_policy_service_reuse_count_limit;
    long long smtpd_policy_service_try_limit;
    long long smtpd_policy_service_retry_delay;
    char   *smtpd_policy_service_default_action;
    char   *smtpd_policy_service_policy_context;
    long long milter_protocol;
    char   *milter_default_action;
    long long milter_connect_timeout;
    long long milter_command_timeout;
    long long milter_content_timeout;
    char   *milter_connect_macros;
    char   *milter_helo_macros;
    char   *milter_mail_macros;
    char   *milter_rcpt_macros;
    char   *milter_data_macros;
    char   *milter_end_of_header_macros;
    char   *milter_end_of_data_macros;
    char   *milter_unknown_command_macros;
    char   *milter_macro_daemon_name;
    char   *milter_macro_v;
    char   *client_history_backend;
    long long client_history_ttl;
    long long client_history_max_entries;
    long long client_history_ipv6_prefix;
    long long client_known_min_messages;
    long long client_known_min_age;
    long long client_suspect_events;
    long long client_suspect_window;
    char   *smtpd_upstream_proxy_protocol;
    long long smtpd_upstream_proxy_timeout;

    /* restrictions: reply codes, unlisted recipients, client DNS */
    long long relay_domains_reject_code;
    long long access_map_reject_code;
    long long access_map_defer_code;
    long long reject_code;
    long long defer_code;
    long long unknown_client_reject_code;
    long long invalid_hostname_reject_code;
    long long non_fqdn_reject_code;
    long long unknown_local_recipient_reject_code;
    long long unknown_relay_recipient_reject_code;
    int     smtpd_reject_unlisted_recipient;
    char   *smtpd_dns_resolv_conf;
    char   *smtpd_dns_hosts_file;
    /* not a parameter: the expanded list of each smtpd_restriction_classes
     * name, in its order; filled and freed by conf/personality.c */
    struct param_list *restriction_class_lists;

    /* relay */
    char   *relay_transport;
    struct param_list transport_maps;
    long long relay_threads;
    long long default_destination_concurrency_limit;
    long long queue_run_delay;
    long long minimal_backoff_time;
    long long maximal_backoff_time;
    long long maximal_queue_lifetime;
    long long bounce_queue_lifetime;
    long long smtp_connect_timeout;
    long long smtp_helo_timeout;
    long long smtp_mail_timeout;
    long long smtp_rcpt_timeout;
    long long smtp_data_init_timeout;
    long long smtp_data_xfer_timeout;
    long long smtp_data_done_timeout;
    long long smtp_quit_timeout;
    char   *smtp_helo_name;
    char   *smtp_tls_security_level;
    int     smtp_send_xforward_command;
};

extern const struct param_def param_table[];

size_t  param_count(void);
const struct param_def *param_find(const char *name);
const struct param_def *param_nearest(const char *name);
int     param_is_first_word(const char *word, size_t len);
int     param_set_value(const struct param_def *def, const char *value,
                        struct params *p, struct dstr *why);
void    param_free_values(struct params *p);
const char *param_type_name(enum param_type type);
int     param_list_split(const char *value, struct param_list *list,
                         struct dstr *why);
void    param_list_free(struct param_list *list);
int     param_list_contains(const struct param_list *list, const char *word);

#endif
