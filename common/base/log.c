#include "fc_log.h"
#include "fc_err.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static int level_set;
static enum fc_log_level cur_level = FC_LOG_INFO;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int fc_log_parse_level(const char *s, enum fc_log_level *out)
{
	for (int i = 0; s && i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum fc_log_level)i;
			return FC_OK;
		}
	}
	return FC_EINVAL;
}

static void read_env(void)
{
	enum fc_log_level l;
	if (!level_set && fc_log_parse_level(getenv("FLEXCHAIN_LOG"), &l) == FC_OK)
		cur_level = l;
}

void fc_log_set_level(enum fc_log_level level)
{
	level_set = 1;
	cur_level = level;
}

enum fc_log_level fc_log_get_level(void)
{
	pthread_once(&env_once, read_env);
	return cur_level;
}

void fc_log_set_fd(int fd)
{
	log_fd = fd;
}

void fc_log(enum fc_log_level level, const char *comp, const char *msg,
	    const char *fields, ...)
{
	if (level < fc_log_get_level())
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line,
			 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=%s msg=\"%s\"",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			 level_names[level], comp ? comp : "-", msg ? msg : "");
	if (fields && n > 0 && (size_t)n < sizeof line - 2) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fields);
		int m = vsnprintf(line + n, sizeof line - (size_t)n, fields, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	ssize_t w = write(log_fd, line, (size_t)n);
	(void)w;
}
