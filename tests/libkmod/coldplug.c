/* What systemd-udevd does at coldplug, in one process, timed: kmod_new and
 * kmod_load_resources, then for each modalias of a list kmod_module_new_from_lookup and,
 * for each module found, kmod_module_probe_insert_module with udev's
 * KMOD_PROBE_APPLY_BLACKLIST plus DRY_RUN (nothing is loaded) and IGNORE_LOADED (the
 * host's /sys does not matter). Prints one line: the time to the context, the time to the
 * first lookup's answer, the whole run (wall and CPU, milliseconds), the lookups that found
 * something, the probes, and a checksum of the names found (the same work for every
 * library).
 * Usage: coldplug MODULE_DIR MODALIAS_FILE */
#include <libkmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    FILE *f = fopen(argv[2], "re");
    if (!f)
        return 2;
    char line[4096];
    double t0 = now_ms(), c0 = cpu_ms();
    struct kmod_ctx *ctx = kmod_new(argv[1], NULL);
    if (!ctx || kmod_load_resources(ctx) < 0)
        return 1;
    double t_ctx = now_ms() - t0, t_first = -1;
    unsigned long found = 0, probes = 0, sum = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        struct kmod_list *l = NULL, *e;
        kmod_module_new_from_lookup(ctx, line, &l);
        if (t_first < 0)
            t_first = now_ms() - t0;
        if (l)
            found++;
        kmod_list_foreach(e, l) {
            struct kmod_module *m = kmod_module_get_module(e);
            for (const char *p = kmod_module_get_name(m); *p; p++)
                sum = sum * 31 + (unsigned char)*p;
            kmod_module_probe_insert_module(m,
                                            KMOD_PROBE_APPLY_BLACKLIST | KMOD_PROBE_DRY_RUN |
                                                KMOD_PROBE_IGNORE_LOADED,
                                            NULL, NULL, NULL, NULL);
            probes++;
            kmod_module_unref(m);
        }
        kmod_module_unref_list(l);
    }
    kmod_unref(ctx);
    printf("%.3f %.3f %.3f %.3f %lu %lu %lx\n", t_ctx, t_first, now_ms() - t0, cpu_ms() - c0,
           found, probes, sum);
    return 0;
}
