/*
 * params - the parameter table and typed value conversion; see params.h.
 *
 * The table is the single declaration of every parameter: the loader,
 * `doppel conf`, the man page test and the personality compiler all
 * walk it. Stress defaults follow Postfix's stress-aware defaults.
 */

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/dstr.h"
#include "util/str.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "conf/params.h"

#define P(field) offsetof(struct params, field)
#define SEC(n) ((long long) (n) * 1000)
#define NO_LIMIT 0, 0
#define S PARAM_F_SESSION

/* *INDENT-OFF* */
const struct param_def param_table[] = {
    /* identity and places */
    {"config_directory", PARAM_STRING, "", NULL, NO_LIMIT, 0, 0,
     P(config_directory),
     "the directory doppel.cf was read from (set by doppel, not by you)"},
    {"myhostname", PARAM_STRING, "", NULL, NO_LIMIT, 0, 0, P(myhostname),
     "this host's fully qualified name (default: the system's)"},
    {"mydomain", PARAM_STRING, "", NULL, NO_LIMIT, 0, 0, P(mydomain),
     "this host's domain (default: $myhostname minus its first label)"},
    {"myorigin", PARAM_STRING, "$myhostname", NULL, NO_LIMIT, 0, 0,
     P(myorigin), "domain that locally posted mail appears to come from"},
    {"mail_name", PARAM_STRING, "doppel", NULL, NO_LIMIT, 0, 0, P(mail_name),
     "the server's name in the greeting and Received headers"},
    {"mail_owner", PARAM_STRING, "doppel", NULL, NO_LIMIT, 0, 0,
     P(mail_owner), "unprivileged user that workers run as when started as root"},
    {"queue_directory", PARAM_STRING, "/var/spool/doppel", NULL, NO_LIMIT, 0,
     0, P(queue_directory), "where the mail queue lives"},
    {"data_directory", PARAM_STRING, "/var/lib/doppel", NULL, NO_LIMIT, 0, 0,
     P(data_directory), "where client history and other state lives"},
    {"run_directory", PARAM_STRING, "/run/doppel", NULL, NO_LIMIT, 0, 0,
     P(run_directory), "pid file, control socket and scoreboard"},
    {"mynetworks", PARAM_LIST, "127.0.0.0/8 [::1]/128", NULL, NO_LIMIT, 0, 0,
     P(mynetworks), "trusted client networks (may relay)"},
    {"mydestination", PARAM_LIST, "$myhostname, localhost.$mydomain, localhost",
     NULL, NO_LIMIT, 0, 0, P(mydestination),
     "domains this server is the final destination for"},
    {"relay_domains", PARAM_LIST, "", NULL, NO_LIMIT, 0, 0, P(relay_domains),
     "domains this server relays mail to from anyone"},

    /* master and stress */
    {"smtpd_client_limit", PARAM_INT, "100", NULL, 1, 1000000, 0, 0,
     P(smtpd_client_limit), "sessions a service carries at once"},
    {"smtpd_client_reserve", PARAM_INT, "0", NULL, 0, 1000000, 0, 0,
     P(smtpd_client_reserve),
     "slots of smtpd_client_limit kept for smtpd_client_reserve_classes"},
    {"smtpd_client_reserve_classes", PARAM_LIST, "preferred known", NULL,
     NO_LIMIT, 0, 0, P(smtpd_client_reserve_classes),
     "client classes that may use reserved slots and are never evicted"},
    {"master_stress_clear_ratio", PARAM_RATIO, "0.7", NULL, NO_LIMIT, 0, 0,
     P(master_stress_clear_ratio),
     "stress clears when open sessions stay at or below this share of the limit"},
    {"master_stress_clear_delay", PARAM_TIME, "30s", NULL, 0, SEC(86400), 0,
     's', P(master_stress_clear_delay),
     "how long the load must stay low before stress clears"},
    {"master_stress_tighten_sessions", PARAM_BOOL, "yes", NULL, NO_LIMIT, 0, 0,
     P(master_stress_tighten_sessions),
     "switch open sessions to the stress personality when stress starts"},
    {"master_stress_evict_idle", PARAM_TIME, "0", NULL, 0, SEC(86400),
     PARAM_F_OFF, 's', P(master_stress_evict_idle),
     "a full stressed service evicts a session idle this long (off: never)"},
    {"master_shutdown_timeout", PARAM_TIME, "30s", NULL, 0, SEC(3600), 0,
     's', P(master_shutdown_timeout),
     "on stop, open sessions get this long before 421 4.3.2"},
    {"master_stress_evict_penalty", PARAM_TIME, "10s", NULL, 0, SEC(3600), 0,
     's', P(master_stress_evict_penalty),
     "a client whose session was evicted may not evict another for this long"},
    {"metrics_listen", PARAM_STRING, "127.0.0.1:9125", NULL, NO_LIMIT, 0, 0,
     P(metrics_listen), "address of the Prometheus metrics endpoint (empty: off)"},

    /* smtpd, not per session */
    {"smtpd_tls_cert_file", PARAM_STRING, "", NULL, NO_LIMIT, 0, 0,
     P(smtpd_tls_cert_file), "PEM certificate chain for STARTTLS"},
    {"smtpd_tls_key_file", PARAM_STRING, "$smtpd_tls_cert_file", NULL,
     NO_LIMIT, 0, 0, P(smtpd_tls_key_file), "PEM private key for STARTTLS"},
    {"smtpd_authorized_xclient_hosts", PARAM_LIST, "", NULL, NO_LIMIT, 0, 0,
     P(smtpd_authorized_xclient_hosts), "clients allowed to use XCLIENT"},
    {"smtpd_authorized_xforward_hosts", PARAM_LIST, "", NULL, NO_LIMIT, 0, 0,
     P(smtpd_authorized_xforward_hosts), "clients allowed to use XFORWARD"},
    {"smtpd_client_class_maps", PARAM_MAPLIST, "", NULL, NO_LIMIT, 0, 0,
     P(smtpd_client_class_maps), "tables mapping a client to its class"},

    /* smtpd, per session: these have stress_ and class doppelgangers */
    {"smtpd_banner", PARAM_STRING, "$myhostname ESMTP $mail_name", NULL,
     NO_LIMIT, S, 0, P(smtpd_banner), "text after 220 in the greeting"},
    {"smtpd_timeout", PARAM_TIME, "300s", "10s", SEC(1), SEC(3600), S, 's',
     P(smtpd_timeout), "how long to wait for a client command or data"},
    {"smtpd_hard_error_limit", PARAM_INT, "20", "1", 1, 10000, S, 0,
     P(smtpd_hard_error_limit), "errors after which the session is ended"},
    {"smtpd_soft_error_limit", PARAM_INT, "10", NULL, 1, 10000, S, 0,
     P(smtpd_soft_error_limit), "errors after which each reply is delayed"},
    {"smtpd_error_sleep_time", PARAM_TIME, "1s", NULL, 0, SEC(300), S, 's',
     P(smtpd_error_sleep_time), "delay of replies past the soft error limit"},
    {"smtpd_junk_command_limit", PARAM_INT, "100", "1", 1, 100000, S, 0,
     P(smtpd_junk_command_limit),
     "NOOP, VRFY, RSET, ETRN commands allowed before errors count"},
    {"smtpd_recipient_limit", PARAM_INT, "1000", NULL, 1, 100000, S, 0,
     P(smtpd_recipient_limit), "recipients accepted per message"},
    {"message_size_limit", PARAM_SIZE, "10240000", NULL, 1024,
     2147483647LL, S, 0, P(message_size_limit),
     "largest message accepted, in bytes"},
    {"smtpd_helo_required", PARAM_BOOL, "no", NULL, NO_LIMIT, S, 0,
     P(smtpd_helo_required), "require HELO or EHLO before MAIL"},
    {"smtpd_forbid_bare_newline", PARAM_BOOL, "yes", NULL, NO_LIMIT, S, 0,
     P(smtpd_forbid_bare_newline),
     "refuse commands and data lines that end in a bare LF or CR"},
    {"smtpd_per_request_deadline", PARAM_BOOL, "no", "yes", NO_LIMIT, S, 0,
     P(smtpd_per_request_deadline),
     "smtpd_timeout bounds a whole command or reply, not each read"},
    {"smtpd_min_data_rate", PARAM_INT, "500", NULL, 1, 1000000000, S, 0,
     P(smtpd_min_data_rate),
     "bytes per second that extend the DATA deadline (with the deadline on)"},
    {"smtpd_greet_pause", PARAM_TIME, "0", NULL, 0, SEC(300), S, 's',
     P(smtpd_greet_pause), "delay before the greeting; early talkers are caught"},
    {"disable_vrfy_command", PARAM_BOOL, "no", NULL, NO_LIMIT, S, 0,
     P(disable_vrfy_command), "answer VRFY with 502"},
    {"smtpd_delay_reject", PARAM_BOOL, "yes", NULL, NO_LIMIT, S, 0,
     P(smtpd_delay_reject),
     "apply client, HELO and sender restrictions at RCPT time"},
    {"smtpd_client_restrictions", PARAM_LIST, "", NULL, NO_LIMIT, S, 0,
     P(smtpd_client_restrictions), "restrictions on the client's address"},
    {"smtpd_helo_restrictions", PARAM_LIST, "", NULL, NO_LIMIT, S, 0,
     P(smtpd_helo_restrictions), "restrictions on the HELO/EHLO name"},
    {"smtpd_sender_restrictions", PARAM_LIST, "", NULL, NO_LIMIT, S, 0,
     P(smtpd_sender_restrictions), "restrictions on MAIL FROM"},
    {"smtpd_relay_restrictions", PARAM_LIST,
     "permit_mynetworks, reject_unauth_destination", NULL, NO_LIMIT, S, 0,
     P(smtpd_relay_restrictions), "relay control at RCPT TO"},
    {"smtpd_recipient_restrictions", PARAM_LIST, "", NULL, NO_LIMIT, S, 0,
     P(smtpd_recipient_restrictions), "restrictions on RCPT TO"},
    {"smtpd_data_restrictions", PARAM_LIST, "", NULL, NO_LIMIT, S, 0,
     P(smtpd_data_restrictions), "restrictions at DATA"},
    {"smtpd_end_of_data_restrictions", PARAM_LIST, "", NULL, NO_LIMIT, S, 0,
     P(smtpd_end_of_data_restrictions), "restrictions at the end of the message"},

    /* smtpd engine: rows added by the SMTP engine work go here */
    {"smtpd_command_line_limit", PARAM_INT, "512", NULL, 512, 4096, S, 0,
     P(smtpd_command_line_limit),
     "octets in a command line with its CRLF (MAIL and RCPT may add their"
     " extensions' allowance)"},
    {"smtpd_starttls_timeout", PARAM_TIME, "300s", "10s", SEC(1), SEC(3600), S,
     's', P(smtpd_starttls_timeout), "time limit for the TLS handshake"},
    {"smtpd_peername_lookup_timeout", PARAM_TIME, "10s", "2s", 100, SEC(300),
     S, 's', P(smtpd_peername_lookup_timeout),
     "time limit for the client name lookup before the greeting"},
    {"smtpd_peername_lookup", PARAM_BOOL, "yes", NULL, NO_LIMIT, 0, 0,
     P(smtpd_peername_lookup),
     "look up the client's name (reverse, then forward to confirm)"},
    {"smtpd_chroot", PARAM_BOOL, "no", NULL, NO_LIMIT, 0, 0, P(smtpd_chroot),
     "doppel-smtpd workers chroot into queue_directory once started"},
    {"smtpd_queue_threads", PARAM_INT, "4", NULL, 1, 64, 0, 0,
     P(smtpd_queue_threads),
     "threads per worker that write and fsync queue files"},
    {"smtpd_client_connection_count_limit", PARAM_INT, "50", NULL, 0,
     1000000, S, 0, P(smtpd_client_connection_count_limit),
     "sessions one client may hold at once, over all workers (0: no limit)"},
    {"smtpd_client_connection_rate_limit", PARAM_INT, "0", NULL, 0,
     1000000000, S, 0, P(smtpd_client_connection_rate_limit),
     "connections one client may make per anvil_rate_time_unit (0: no limit)"},
    {"smtpd_client_message_rate_limit", PARAM_INT, "0", NULL, 0, 1000000000,
     S, 0, P(smtpd_client_message_rate_limit),
     "MAIL FROM requests one client may make per time unit (0: no limit)"},
    {"smtpd_client_recipient_rate_limit", PARAM_INT, "0", NULL, 0,
     1000000000, S, 0, P(smtpd_client_recipient_rate_limit),
     "recipients one client may send per time unit (0: no limit)"},
    {"smtpd_early_talker_action", PARAM_STRING, "reject", NULL, NO_LIMIT, S,
     0, P(smtpd_early_talker_action),
     "what an early talker gets: reject (554 5.5.1) or suspect"},
    {"smtpd_milters", PARAM_LIST, "", NULL, NO_LIMIT, S, 0, P(smtpd_milters),
     "milters (inet:HOST:PORT or unix:PATH) that see every message"},
    {"smtpd_restriction_classes", PARAM_LIST, "", NULL, NO_LIMIT, 0, 0,
     P(smtpd_restriction_classes),
     "names of restriction lists that access tables may name as a result"},
    {"local_recipient_maps", PARAM_MAPLIST, "", NULL, NO_LIMIT, 0, 0,
     P(local_recipient_maps),
     "tables of the users in mydestination (empty: any user is accepted)"},
    {"relay_recipient_maps", PARAM_MAPLIST, "", NULL, NO_LIMIT, 0, 0,
     P(relay_recipient_maps),
     "tables of the recipients in relay_domains (empty: any is accepted)"},
    {"anvil_rate_time_unit", PARAM_TIME, "60s", NULL, SEC(1), SEC(86400), 0,
     's', P(anvil_rate_time_unit), "the time unit of the per-client rate limits"},
    {"smtpd_client_event_limit_exceptions", PARAM_LIST, "$mynetworks", NULL,
     NO_LIMIT, 0, 0, P(smtpd_client_event_limit_exceptions),
     "clients that no per-client connection or rate limit applies to"},
    {"smtpd_policy_service_timeout", PARAM_TIME, "100s", NULL, 100, SEC(3600),
     0, 's', P(smtpd_policy_service_timeout),
     "time limit for connecting to a policy server and for its answer"},
    {"smtpd_policy_service_max_idle", PARAM_TIME, "300s", NULL, 100,
     SEC(86400), 0, 's', P(smtpd_policy_service_max_idle),
     "an unused policy server connection is closed after this long"},
    {"smtpd_policy_service_max_ttl", PARAM_TIME, "1000s", NULL, 100,
     SEC(86400), 0, 's', P(smtpd_policy_service_max_ttl),
     "a policy server connection is not reused once this old"},
    {"smtpd_policy_service_reuse_count_limit", PARAM_INT, "0", NULL, 0,
     1000000000, 0, 0, P(smtpd_policy_service_reuse_count_limit),
     "requests per policy server connection (0: no limit)"},
    {"smtpd_policy_service_try_limit", PARAM_INT, "2", NULL, 1, 10, 0, 0,
     P(smtpd_policy_service_try_limit),
     "attempts per policy request before the default action"},
    {"smtpd_policy_service_retry_delay", PARAM_TIME, "1s", NULL, 0, SEC(60),
     0, 's', P(smtpd_policy_service_retry_delay),
     "pause between attempts of one policy request"},
    {"smtpd_policy_service_default_action", PARAM_STRING,
     "451 4.3.5 Server configuration problem", NULL, NO_LIMIT, 0, 0,
     P(smtpd_policy_service_default_action),
     "the answer when a policy server is down, slow or talks nonsense"},
    {"smtpd_policy_service_policy_context", PARAM_STRING, "", NULL, NO_LIMIT,
     0, 0, P(smtpd_policy_service_policy_context),
     "sent to policy servers as policy_context="},
    {"milter_protocol", PARAM_INT, "6", NULL, 2, 6, 0, 0, P(milter_protocol),
     "the milter protocol version doppel offers"},
    {"milter_default_action", PARAM_STRING, "tempfail", NULL, NO_LIMIT, 0, 0,
     P(milter_default_action),
     "accept, reject, tempfail or quarantine when a milter fails"},
    {"milter_connect_timeout", PARAM_TIME, "30s", NULL, 100, SEC(3600), 0,
     's', P(milter_connect_timeout), "time limit for connecting to a milter"},
    {"milter_command_timeout", PARAM_TIME, "30s", NULL, 100, SEC(3600), 0,
     's', P(milter_command_timeout),
     "time limit for a milter's answer to a command"},
    {"milter_content_timeout", PARAM_TIME, "300s", NULL, 100, SEC(3600), 0,
     's', P(milter_content_timeout),
     "time limit for a milter's answer to message content"},
    {"milter_connect_macros", PARAM_STRING,
     "j {daemon_name} {daemon_addr} v _ {stress} {personality} {client_class}",
     NULL, NO_LIMIT, 0, 0, P(milter_connect_macros),
     "macros sent to milters with the connection"},
    {"milter_helo_macros", PARAM_STRING,
     "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
     NULL, NO_LIMIT, 0, 0, P(milter_helo_macros),
     "macros sent to milters with HELO/EHLO"},
    {"milter_mail_macros", PARAM_STRING,
     "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host}"
     " {mail_mailer}", NULL, NO_LIMIT, 0, 0, P(milter_mail_macros),
     "macros sent to milters with MAIL FROM"},
    {"milter_rcpt_macros", PARAM_STRING,
     "i {rcpt_addr} {rcpt_host} {rcpt_mailer}", NULL, NO_LIMIT, 0, 0,
     P(milter_rcpt_macros), "macros sent to milters with RCPT TO"},
    {"milter_data_macros", PARAM_STRING, "i", NULL, NO_LIMIT, 0, 0,
     P(milter_data_macros), "macros sent to milters with DATA"},
    {"milter_end_of_header_macros", PARAM_STRING, "i", NULL, NO_LIMIT, 0, 0,
     P(milter_end_of_header_macros),
     "macros sent to milters at the end of the headers"},
    {"milter_end_of_data_macros", PARAM_STRING, "i", NULL, NO_LIMIT, 0, 0,
     P(milter_end_of_data_macros),
     "macros sent to milters at the end of the message"},
    {"milter_unknown_command_macros", PARAM_STRING, "", NULL, NO_LIMIT, 0, 0,
     P(milter_unknown_command_macros),
     "macros sent to milters with an unknown command"},
    {"milter_macro_daemon_name", PARAM_STRING, "$myhostname", NULL, NO_LIMIT,
     0, 0, P(milter_macro_daemon_name), "the value of the {daemon_name} macro"},
    {"milter_macro_v", PARAM_STRING, "$mail_name", NULL, NO_LIMIT, 0, 0,
     P(milter_macro_v), "the value of the {v} macro"},
    {"client_history_backend", PARAM_STRING, "lmdb", NULL, NO_LIMIT, 0, 0,
     P(client_history_backend),
     "where client history lives: lmdb (data_directory) or redis:HOST:PORT"},
    {"client_history_ttl", PARAM_TIME, "30d", NULL, SEC(60), SEC(86400 * 3650),
     0, 'd', P(client_history_ttl),
     "a client not seen for this long is forgotten"},
    {"client_history_max_entries", PARAM_INT, "100000", NULL, 100,
     100000000, 0, 0, P(client_history_max_entries),
     "clients the history keeps (the oldest go first)"},
    {"client_history_ipv6_prefix", PARAM_INT, "64", NULL, 16, 128, 0, 0,
     P(client_history_ipv6_prefix),
     "IPv6 clients are one client per network of this prefix length"},
    {"client_known_min_messages", PARAM_INT, "3", NULL, 1, 1000000, 0, 0,
     P(client_known_min_messages),
     "messages delivered before a client counts as known"},
    {"client_known_min_age", PARAM_TIME, "1h", NULL, 0, SEC(86400 * 365), 0,
     's', P(client_known_min_age),
     "time since a client was first seen before it counts as known"},
    {"client_suspect_events", PARAM_INT, "3", NULL, 1, 1000000, 0, 0,
     P(client_suspect_events),
     "rejections, protocol errors, timeouts or early talking that make a"
     " client suspect"},
    {"client_suspect_window", PARAM_TIME, "1d", NULL, SEC(1),
     SEC(86400 * 365), 0, 'h', P(client_suspect_window),
     "how recent abuse must be to make a client suspect"},
    {"smtpd_upstream_proxy_protocol", PARAM_STRING, "", NULL, NO_LIMIT, 0, 0,
     P(smtpd_upstream_proxy_protocol),
     "haproxy: every connection starts with a PROXY v1 or v2 header"},
    {"smtpd_upstream_proxy_timeout", PARAM_TIME, "5s", NULL, 100, SEC(300), 0,
     's', P(smtpd_upstream_proxy_timeout),
     "time limit for the PROXY protocol header"},
    {"relay_domains_reject_code", PARAM_INT, "554", NULL, 400, 599, 0, 0,
     P(relay_domains_reject_code),
     "reply code of reject_unauth_destination (Relay access denied)"},
    {"access_map_reject_code", PARAM_INT, "554", NULL, 400, 599, 0, 0,
     P(access_map_reject_code), "reply code of an access table's REJECT"},
    {"access_map_defer_code", PARAM_INT, "450", NULL, 400, 599, 0, 0,
     P(access_map_defer_code), "reply code of an access table's DEFER"},
    {"reject_code", PARAM_INT, "554", NULL, 400, 599, 0, 0, P(reject_code),
     "reply code of the reject restriction"},
    {"defer_code", PARAM_INT, "450", NULL, 400, 599, 0, 0, P(defer_code),
     "reply code of the defer and defer_unauth_destination restrictions"},
    {"unknown_client_reject_code", PARAM_INT, "450", NULL, 400, 599, 0, 0,
     P(unknown_client_reject_code),
     "reply code of reject_unknown_(reverse_)client_hostname when the DNS"
     " said no (a DNS failure always gets 450)"},
    {"invalid_hostname_reject_code", PARAM_INT, "501", NULL, 400, 599, 0, 0,
     P(invalid_hostname_reject_code),
     "reply code of reject_invalid_helo_hostname"},
    {"non_fqdn_reject_code", PARAM_INT, "504", NULL, 400, 599, 0, 0,
     P(non_fqdn_reject_code), "reply code of the reject_non_fqdn_ restrictions"},
    {"unknown_local_recipient_reject_code", PARAM_INT, "550", NULL, 400, 599,
     0, 0, P(unknown_local_recipient_reject_code),
     "reply code for a recipient in mydestination not in local_recipient_maps"},
    {"unknown_relay_recipient_reject_code", PARAM_INT, "550", NULL, 400, 599,
     0, 0, P(unknown_relay_recipient_reject_code),
     "reply code for a recipient in relay_domains not in relay_recipient_maps"},
    {"smtpd_reject_unlisted_recipient", PARAM_BOOL, "yes", NULL, NO_LIMIT, 0,
     0, P(smtpd_reject_unlisted_recipient),
     "check every RCPT against local_recipient_maps and relay_recipient_maps"
     " (when set) after the restriction lists"},
    {"smtpd_dns_resolv_conf", PARAM_STRING, "/etc/resolv.conf", NULL,
     NO_LIMIT, 0, 0, P(smtpd_dns_resolv_conf),
     "resolver configuration for client name lookups (nameserver IP[:PORT])"},
    {"smtpd_dns_hosts_file", PARAM_STRING, "/etc/hosts", NULL, NO_LIMIT, 0, 0,
     P(smtpd_dns_hosts_file),
     "hosts file consulted before the DNS for client names (empty: none)"},
    /* relay */
    {"relay_transport", PARAM_STRING, "smtp:[127.0.0.1]:10025", NULL,
     NO_LIMIT, 0, 0, P(relay_transport),
     "where doppel-relay delivers by default: smtp:[HOST]:PORT,"
     " lmtp:inet:HOST:PORT, lmtp:unix:PATH, maildir:DIR or discard"},
    {"transport_maps", PARAM_MAPLIST, "", NULL, NO_LIMIT, 0, 0,
     P(transport_maps),
     "tables that choose a transport per recipient address or domain"},
    {"relay_threads", PARAM_INT, "8", NULL, 1, 256, 0, 0, P(relay_threads),
     "deliveries doppel-relay runs at once (one thread each)"},
    {"default_destination_concurrency_limit", PARAM_INT, "20", NULL, 1, 1000,
     0, 0, P(default_destination_concurrency_limit),
     "deliveries to one destination (transport and next hop) at once"},
    {"queue_run_delay", PARAM_TIME, "1s", NULL, 100, SEC(3600), 0, 's',
     P(queue_run_delay),
     "how often doppel-relay scans incoming/ and deferred/"},
    {"minimal_backoff_time", PARAM_TIME, "300s", NULL, 100, SEC(86400 * 7), 0,
     's', P(minimal_backoff_time), "shortest wait before a retry"},
    {"maximal_backoff_time", PARAM_TIME, "4000s", NULL, 100, SEC(86400 * 7),
     0, 's', P(maximal_backoff_time), "longest wait before a retry"},
    {"maximal_queue_lifetime", PARAM_TIME, "5d", NULL, 0, SEC(86400 * 100), 0,
     'd', P(maximal_queue_lifetime),
     "age at which undeliverable mail is returned to the sender"},
    {"bounce_queue_lifetime", PARAM_TIME, "5d", NULL, 0, SEC(86400 * 100), 0,
     'd', P(bounce_queue_lifetime),
     "age at which an undeliverable bounce is given up"},
    {"smtp_connect_timeout", PARAM_TIME, "30s", NULL, 100, SEC(3600), 0, 's',
     P(smtp_connect_timeout), "time limit for a connection to the next hop"},
    {"smtp_helo_timeout", PARAM_TIME, "300s", NULL, 100, SEC(3600), 0, 's',
     P(smtp_helo_timeout), "time limit for the greeting and EHLO/LHLO replies"},
    {"smtp_mail_timeout", PARAM_TIME, "300s", NULL, 100, SEC(3600), 0, 's',
     P(smtp_mail_timeout), "time limit for the MAIL FROM reply"},
    {"smtp_rcpt_timeout", PARAM_TIME, "300s", NULL, 100, SEC(3600), 0, 's',
     P(smtp_rcpt_timeout), "time limit for each RCPT TO reply"},
    {"smtp_data_init_timeout", PARAM_TIME, "120s", NULL, 100, SEC(3600), 0,
     's', P(smtp_data_init_timeout), "time limit for the DATA reply"},
    {"smtp_data_xfer_timeout", PARAM_TIME, "180s", NULL, 100, SEC(3600), 0,
     's', P(smtp_data_xfer_timeout),
     "time limit for each write of the message content"},
    {"smtp_data_done_timeout", PARAM_TIME, "600s", NULL, 100, SEC(3600), 0,
     's', P(smtp_data_done_timeout),
     "time limit for the reply to the final dot"},
    {"smtp_quit_timeout", PARAM_TIME, "300s", NULL, 100, SEC(3600), 0, 's',
     P(smtp_quit_timeout), "time limit for the QUIT reply"},
    {"smtp_helo_name", PARAM_STRING, "$myhostname", NULL, NO_LIMIT, 0, 0,
     P(smtp_helo_name), "the name doppel-relay gives in EHLO and LHLO"},
    {"smtp_tls_security_level", PARAM_STRING, "may", NULL, NO_LIMIT, 0, 0,
     P(smtp_tls_security_level),
     "none, may (STARTTLS when offered) or encrypt (TLS required)"},
    {"smtp_send_xforward_command", PARAM_BOOL, "no", NULL, NO_LIMIT, 0, 0,
     P(smtp_send_xforward_command),
     "send the original client's attributes with XFORWARD when offered"},

    {NULL, PARAM_STRING, NULL, NULL, 0, 0, 0, 0, 0, NULL},
};
/* *INDENT-ON* */

/* param_count - number of rows in the table */
size_t
param_count(void)
{
    static size_t count;

    if (count == 0)
        while (param_table[count].name != NULL)
            count++;
    return count;
}

/* param_find - the row for an exact name, or NULL */
const struct param_def *
param_find(const char *name)
{
    const struct param_def *d;

    for (d = param_table; d->name != NULL; d++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

/* param_nearest - the known name closest to a misspelled one, or NULL */
const struct param_def *
param_nearest(const char *name)
{
    const struct param_def *d, *best = NULL;
    size_t  dist, best_dist = (size_t) -1;
    size_t  len = strlen(name);

    for (d = param_table; d->name != NULL; d++) {
        dist = str_distance(name, d->name);
        if (dist < best_dist) {
            best_dist = dist;
            best = d;
        }
    }
    /* a suggestion further away than a third of the name is noise */
    if (best == NULL || best_dist > (len / 3 > 2 ? len / 3 : 2))
        return NULL;
    return best;
}

/* param_is_first_word - is word[0..len) the first word of some parameter */
int
param_is_first_word(const char *word, size_t len)
{
    const struct param_def *d;

    for (d = param_table; d->name != NULL; d++)
        if (strncmp(d->name, word, len) == 0
            && (d->name[len] == '_' || d->name[len] == '\0'))
            return 1;
    return 0;
}

/* param_type_name - for messages */
const char *
param_type_name(enum param_type type)
{
    switch (type) {
    case PARAM_STRING:
        return "string";
    case PARAM_BOOL:
        return "boolean";
    case PARAM_INT:
        return "number";
    case PARAM_TIME:
        return "time";
    case PARAM_SIZE:
        return "size";
    case PARAM_LIST:
        return "list";
    case PARAM_MAPLIST:
        return "table list";
    case PARAM_RATIO:
        return "ratio";
    }
    return "value";
}

/*
 * param_list_split - split on white space and commas. A "{" opens a
 * group that runs to its matching "}" and is kept as one item with the
 * braces, so "inline:{ a=1, b=2 }" is one item.
 */
int
param_list_split(const char *value, struct param_list *list,
                 struct dstr *why)
{
    const char *p = value, *start;
    size_t  alloc = 0;
    int     depth;

    list->count = 0;
    list->items = NULL;
    while (*p) {
        while (*p && (isspace((unsigned char) *p) || *p == ','))
            p++;
        if (*p == '\0')
            break;
        start = p;
        depth = 0;
        while (*p && (depth > 0 || !(isspace((unsigned char) *p) || *p == ','))) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && --depth < 0)
                break;
            p++;
        }
        if (depth != 0 || *p == '}') {
            param_list_free(list);
            (void) dstr_appendf(why, "unbalanced { } in \"%s\"", value);
            return -1;
        }
        if (list->count == alloc) {
            alloc = alloc ? alloc * 2 : 4;
            list->items = xrealloc_array(list->items, alloc, sizeof(char *));
        }
        list->items[list->count++] = xstrndup(start, (size_t) (p - start));
    }
    return 0;
}

/* param_list_free - release the items */
void
param_list_free(struct param_list *list)
{
    size_t  i;

    for (i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* param_list_contains - exact, case-insensitive membership */
int
param_list_contains(const struct param_list *list, const char *word)
{
    size_t  i;

    for (i = 0; i < list->count; i++)
        if (str_eq_nocase(list->items[i], word))
            return 1;
    return 0;
}

/* param_check_range - min/max of numbers, times and sizes */
static int
param_check_range(const struct param_def *def, const char *value,
                  long long v, struct dstr *why)
{
    const char *unit = def->type == PARAM_TIME ? "ms" : "";

    if (def->min == 0 && def->max == 0)
        return 0;
    if (v < def->min) {
        (void) dstr_appendf(why, "\"%s\" is below the minimum %lld%s", value,
                            def->min, unit);
        return -1;
    }
    if (v > def->max) {
        (void) dstr_appendf(why, "\"%s\" is above the maximum %lld%s", value,
                            def->max, unit);
        return -1;
    }
    return 0;
}

/*
 * param_set_value - convert text to the parameter's type and store it
 * in p. On error, *why says what is wrong and what would be right, and
 * p is unchanged.
 */
int
param_set_value(const struct param_def *def, const char *value,
                struct params *p, struct dstr *why)
{
    void   *field = (char *) p + def->offset;
    long long n = 0;
    double  ratio;
    int     b;
    struct param_list list;
    size_t  i;

    switch (def->type) {
    case PARAM_STRING:
        free(*(char **) field);
        *(char **) field = xstrdup(value);
        return 0;
    case PARAM_BOOL:
        if (units_parse_bool(value, &b) < 0) {
            (void) dstr_appendf(why, "\"%s\" is not a boolean (use yes or no)",
                                value);
            return -1;
        }
        *(int *) field = b;
        return 0;
    case PARAM_INT:
        if (units_parse_int(value, &n) < 0) {
            (void) dstr_appendf(why, "\"%s\" is not a whole number", value);
            return -1;
        }
        break;
    case PARAM_TIME:
        /* "off" or "no", not "0": that is a time of zero */
        if ((def->flags & PARAM_F_OFF) && units_parse_bool(value, &b) == 0
            && b == 0 && strspn(value, " \t0") != strlen(value)) {
            *(long long *) field = -1;
            return 0;
        }
        if (units_parse_time(value, def->unit, &n) < 0) {
            (void) dstr_appendf(why, "\"%s\" is not a time (use ms, s, m, h,"
                                " d or w%s)", value,
                                def->flags & PARAM_F_OFF ? ", or off" : "");
            return -1;
        }
        break;
    case PARAM_SIZE:
        if (units_parse_size(value, &n) < 0) {
            (void) dstr_appendf(why, "\"%s\" is not a size (use bytes, or k, m"
                                " or g)", value);
            return -1;
        }
        break;
    case PARAM_RATIO:
        if (units_parse_ratio(value, &ratio) < 0) {
            (void) dstr_appendf(why, "\"%s\" is not a ratio (use 0 to 1, or 0%%"
                                " to 100%%)", value);
            return -1;
        }
        *(double *) field = ratio;
        return 0;
    case PARAM_LIST:
    case PARAM_MAPLIST:
        if (param_list_split(value, &list, why) < 0)
            return -1;
        if (def->type == PARAM_MAPLIST)
            for (i = 0; i < list.count; i++)
                if (strchr(list.items[i], ':') == NULL) {
                    (void) dstr_appendf(why, "\"%s\" is not a table (use"
                                        " type:name, e.g. cidr:/etc/doppel/"
                                        "clients.cidr)", list.items[i]);
                    param_list_free(&list);
                    return -1;
                }
        param_list_free((struct param_list *) field);
        *(struct param_list *) field = list;
        return 0;
    }
    if (param_check_range(def, value, n, why) < 0)
        return -1;
    *(long long *) field = n;
    return 0;
}

/* param_free_values - release strings and lists of a params struct */
void
param_free_values(struct params *p)
{
    const struct param_def *d;
    void   *field;

    for (d = param_table; d->name != NULL; d++) {
        field = (char *) p + d->offset;
        if (d->type == PARAM_STRING) {
            free(*(char **) field);
            *(char **) field = NULL;
        } else if (d->type == PARAM_LIST || d->type == PARAM_MAPLIST) {
            param_list_free((struct param_list *) field);
        }
    }
}
