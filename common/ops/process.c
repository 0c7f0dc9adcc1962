/* Standard process series and the build-info gauge (fc_ops.h), read from
 * /proc/self at scrape time. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fc_err.h"
#include "fc_ops.h"

#ifndef FLEXCHAIN_VERSION
#define FLEXCHAIN_VERSION "unknown"
#endif

/* Seconds since the epoch at which this process started: the boot time of
 * /proc/stat plus the start tick of /proc/self/stat; now if unreadable. */
static double process_start_time(void)
{
	char buf[1024], *p;
	unsigned long long btime = 0, start = 0;
	long tck = sysconf(_SC_CLK_TCK);
	FILE *f;
	int ok = 0;

	f = fopen("/proc/stat", "r");
	if (f) {
		while (fgets(buf, sizeof buf, f))
			if (sscanf(buf, "btime %llu", &btime) == 1) {
				ok = 1;
				break;
			}
		fclose(f);
	}
	f = fopen("/proc/self/stat", "r");
	if (f && ok && tck > 0) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		/* fields after the command name, which may hold spaces */
		p = strrchr(buf, ')');
		ok = 0;
		if (p) {
			/* field 22 (starttime) is the 20th after ")" */
			p++;
			for (int i = 0; i < 19 && p; i++)
				p = strchr(p + 1, ' ');
			if (p && sscanf(p, " %llu", &start) == 1)
				ok = 1;
		}
	}
	if (f)
		fclose(f);
	if (!ok || tck <= 0)
		return (double)time(NULL);
	return (double)btime + (double)start / (double)tck;
}

static double statm_field(int idx)
{
	unsigned long long v[2] = {0, 0};
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &v[0], &v[1]) != 2)
		v[0] = v[1] = 0;
	fclose(f);
	return (double)v[idx] * (double)sysconf(_SC_PAGESIZE);
}

static double rss_bytes(void *ud)
{
	(void)ud;
	return statm_field(1);
}

static double vm_bytes(void *ud)
{
	(void)ud;
	return statm_field(0);
}

static double open_fds(void *ud)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	(void)ud;
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own fd */
}

static double cpu_seconds(void *ud)
{
	struct timespec ts;

	(void)ud;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int fc_metrics_add_process(struct fc_metrics *m, const char *component, char *errmsg)
{
	const char *bl[] = {"component", component ? component : "", "version", FLEXCHAIN_VERSION,
			    NULL};
	struct fc_metric *g = NULL;
	int rc;

	rc = fc_metrics_gauge(m, "fc_process_start_time_seconds",
			      "Start time of the process since unix epoch in seconds.", NULL, &g,
			      errmsg);
	if (rc != FC_OK)
		return rc;
	fc_metric_set(g, process_start_time());
	rc = fc_metrics_callback(m, FC_METRIC_GAUGE, "fc_process_resident_memory_bytes",
				 "Resident memory size in bytes.", NULL, rss_bytes, NULL, NULL,
				 errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(m, FC_METRIC_GAUGE, "fc_process_virtual_memory_bytes",
					 "Virtual memory size in bytes.", NULL, vm_bytes, NULL,
					 NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(m, FC_METRIC_GAUGE, "fc_process_open_fds",
					 "Number of open file descriptors.", NULL, open_fds, NULL,
					 NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_callback(m, FC_METRIC_COUNTER, "fc_process_cpu_seconds_total",
					 "Total user and system CPU time spent in seconds.", NULL,
					 cpu_seconds, NULL, NULL, errmsg);
	if (rc == FC_OK)
		rc = fc_metrics_gauge(m, "fc_build_info",
				      "A constant 1 labelled with the component and the flexchain "
				      "version.",
				      bl, &g, errmsg);
	if (rc == FC_OK)
		fc_metric_set(g, 1);
	return rc;
}
