/* The C half of rprobe's libkmod.so.2: what stable Rust cannot express.
 *
 * A log function receives a va_list (kmod's public callback type); Rust code hands a
 * formatted message to rprobe_libkmod_log, which calls the function with the format "%s"
 * and the message as its one argument. The default loggers write kmod's stderr lines as
 * Debian builds them: kmod 30 with debugging ("libkmod: PRIORITY FILE:LINE FN: MSG", the
 * place being ours), kmod 34 without ("libkmod: PRIORITY: FN: MSG").
 *
 * kmod 30 to 32 exported kmod_module_new_from_name_lookup under LIBKMOD_5, kmod 33 and
 * later under LIBKMOD_30: the alias below gives binaries linked against either a
 * definition (the default version comes from the version script). */

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

typedef void (*rprobe_log_fn)(void *data, int priority, const char *file, int line,
                              const char *fn, const char *format, va_list args);

static void call_with_args(rprobe_log_fn f, void *data, int priority, const char *file,
                           int line, const char *fn, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    f(data, priority, file, line, fn, format, args);
    va_end(args);
}

__attribute__((visibility("hidden"))) void
rprobe_libkmod_log(rprobe_log_fn f, void *data, int priority, const char *file, int line,
                   const char *fn, const char *msg)
{
    call_with_args(f, data, priority, file, line, fn, "%s", msg);
}

static const char *priority_word(int priority, char buf[16])
{
    switch (priority) {
    case LOG_EMERG: return "EMERGENCY";
    case LOG_ALERT: return "ALERT";
    case LOG_CRIT: return "CRITICAL";
    case LOG_ERR: return "ERROR";
    case LOG_WARNING: return "WARNING";
    case LOG_NOTICE: return "NOTICE";
    case LOG_INFO: return "INFO";
    case LOG_DEBUG: return "DEBUG";
    default:
        snprintf(buf, 16, "L:%d", priority);
        return buf;
    }
}

static void
rprobe_libkmod_log_stderr30(void *data, int priority, const char *file, int line,
                            const char *fn, const char *format, va_list args)
{
    FILE *fp = data;
    char buf[16];
    fprintf(fp, "libkmod: %s %s:%d %s: ", priority_word(priority, buf), file, line, fn);
    vfprintf(fp, format, args);
}

static void
rprobe_libkmod_log_stderr34(void *data, int priority, const char *file, int line,
                            const char *fn, const char *format, va_list args)
{
    FILE *fp = data;
    char buf[16];
    (void)file;
    (void)line;
    fprintf(fp, "libkmod: %s: %s: ", priority_word(priority, buf), fn);
    vfprintf(fp, format, args);
}

/* The default log function of a context: kmod 30's format or kmod 34's. */
__attribute__((visibility("hidden"))) rprobe_log_fn rprobe_libkmod_stderr_logger(int kmod30)
{
    return kmod30 ? rprobe_libkmod_log_stderr30 : rprobe_libkmod_log_stderr34;
}

__attribute__((visibility("hidden"))) void *rprobe_libkmod_stderr(void)
{
    return stderr;
}

struct kmod_ctx;
struct kmod_module;
extern int kmod_module_new_from_name_lookup(struct kmod_ctx *ctx, const char *modname,
                                            struct kmod_module **mod);

__attribute__((visibility("default"))) int rprobe_libkmod_name_lookup_v5(struct kmod_ctx *ctx, const char *modname,
                                  struct kmod_module **mod)
{
    return kmod_module_new_from_name_lookup(ctx, modname, mod);
}
__asm__(".symver rprobe_libkmod_name_lookup_v5,kmod_module_new_from_name_lookup@LIBKMOD_5");
