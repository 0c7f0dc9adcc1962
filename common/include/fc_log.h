/* fc_log.h - one line per event, key=value fields, to stderr.
 *
 *   fc_log(FC_LOG_INFO, "storage", "block appended", "height=%llu txs=%u", h, n);
 * prints
 *   ts=2026-11-22T03:04:05.678Z level=info comp=storage msg="block appended" height=17 txs=500
 *
 * The fields argument is a printf format producing space-separated key=value
 * pairs (values with spaces must be quoted by the caller); it may be NULL.
 * Lines are written with one write(2) so threads do not interleave.
 */
#ifndef FC_LOG_H
#define FC_LOG_H

enum fc_log_level { FC_LOG_DEBUG, FC_LOG_INFO, FC_LOG_WARN, FC_LOG_ERROR };

void fc_log(enum fc_log_level level, const char *comp, const char *msg,
	    const char *fields, ...) __attribute__((format(printf, 4, 5)));

/* Messages below this level are dropped. Default FC_LOG_INFO, or the value of
 * the environment variable FLEXCHAIN_LOG (debug|info|warn|error). */
void fc_log_set_level(enum fc_log_level level);
enum fc_log_level fc_log_get_level(void);
/* Parses "debug", "info", "warn", "error"; FC_EINVAL otherwise. */
int fc_log_parse_level(const char *s, enum fc_log_level *out);
/* Redirect to another fd (tests); default 2. */
void fc_log_set_fd(int fd);

#endif
