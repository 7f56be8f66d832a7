/*
 * A libkmod consumer for rprobe's tests (written for rprobe, not kmod code).
 *
 * It calls libkmod.so.2's public API the way its consumers do (systemd's udevd and
 * modules-load, pciutils' lspci -k, libblockdev, lttng, dracut-install, python-kmod) and
 * the way kmod's own tools do (config iterators, kmod_dump_index, apply_filter), on a
 * module directory, and prints one line per fact it observes. Everything printed is
 * deterministic for a given tree, configuration and kernel view: no pointers (only
 * whether two pointers are equal), the module directory written as $MODDIR, the running
 * kernel's release as $RELEASE. Run under tests/libkmod.rs's sandbox (a fake /sys/module
 * and /proc/modules), the initstate/refcnt/holders/sections/size answers are fixed too.
 *
 * Usage: consumer [-c CONFIG]... [-n] [-s STEP] MODDIR NAMES
 *   -c CONFIG  a configuration path (directory or file); repeatable; in the order given
 *   -n         NULL configuration paths (libkmod's default directories)
 *              (neither -c nor -n: an empty vector, no configuration)
 *   -s STEP    read the ELF (info, versions, symbols, dependency symbols) of every
 *              STEP-th module of modules.dep only (default 1: every module)
 *   NAMES      a file of names to look up, one a line (names, aliases, modaliases,
 *              symbol:X)
 * Build with -DKMOD34 for the kmod >= 33 API (weakdeps).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <unistd.h>

#include <libkmod.h>

static const char *moddir;
static size_t moddir_len;
static char release[256];

/* Prints s with the module directory replaced by $MODDIR and the release by $RELEASE. */
static void put(const char *s)
{
	if (s == NULL) {
		fputs("(null)", stdout);
		return;
	}
	while (*s) {
		if (moddir_len && strncmp(s, moddir, moddir_len) == 0) {
			fputs("$MODDIR", stdout);
			s += moddir_len;
		} else if (release[0] && strncmp(s, release, strlen(release)) == 0) {
			fputs("$RELEASE", stdout);
			s += strlen(release);
		} else if (*s == '\n') {
			fputs("\\n", stdout);
			s++;
		} else {
			putchar(*s++);
		}
	}
}

/* printf with every %s argument passed through put(): only %s, %d, %ld, %llx, %c. */
static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			putchar(*p);
			continue;
		}
		p++;
		if (*p == 's') {
			put(va_arg(ap, const char *));
		} else if (*p == 'd') {
			printf("%d", va_arg(ap, int));
		} else if (*p == 'c') {
			putchar(va_arg(ap, int));
		} else if (strncmp(p, "ld", 2) == 0) {
			printf("%ld", va_arg(ap, long));
			p++;
		} else if (strncmp(p, "llx", 3) == 0) {
			printf("%llx", va_arg(ap, unsigned long long));
			p += 2;
		} else {
			putchar(*p);
		}
	}
	va_end(ap);
}

static void log_fn(void *data, int priority, const char *file, int line, const char *fn,
		   const char *format, va_list args)
{
	char buf[8192];
	size_t n;
	(void)file;
	(void)line;
	(void)fn;
	if (data == NULL || strcmp(data, "consumer") != 0)
		out("log: wrong userdata\n");
	if (priority > LOG_ERR)
		return;
	vsnprintf(buf, sizeof(buf), format, args);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	out("log %d %s\n", priority, buf);
}

static const char *err_name(int e)
{
	static char buf[32];
	switch (-e) {
	case 0: return "0";
	case ENOENT: return "-ENOENT";
	case ENOSYS: return "-ENOSYS";
	case EEXIST: return "-EEXIST";
	case EINVAL: return "-EINVAL";
	case ENOMEM: return "-ENOMEM";
	case ENOEXEC: return "-ENOEXEC";
	case EISDIR: return "-EISDIR";
	case EACCES: return "-EACCES";
	case ENODATA: return "-ENODATA";
	case EBADMSG: return "-EBADMSG";
	case ENOTDIR: return "-ENOTDIR";
	}
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

/* Walks a list forwards and backwards; prints its length and whether the walks agree. */
static int walk(const char *what, const struct kmod_list *list)
{
	const struct kmod_list *l;
	static const struct kmod_list *fwd[65536];
	int n = 0, m = 0;
	bool ok = true;
	kmod_list_foreach(l, list) {
		if (n < 65536)
			fwd[n] = l;
		n++;
	}
	kmod_list_foreach_reverse(l, list) {
		m++;
		if (n - m >= 0 && n - m < 65536 && fwd[n - m] != l)
			ok = false;
	}
	if (list != NULL && kmod_list_prev(list, list) != NULL)
		ok = false;
	if (list != NULL && kmod_list_next(list, kmod_list_last(list)) != NULL)
		ok = false;
	if (n != m || !ok)
		out("  %s walk: forward %d backward %d agree %d\n", what, n, m, ok);
	return n;
}

/* Prints the module names of a list of modules. */
static void names(const char *what, const struct kmod_list *list)
{
	const struct kmod_list *l;
	out("  %s:", what);
	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l);
		out(" %s", kmod_module_get_name(m));
		kmod_module_unref(m);
	}
	out(" (%d)\n", walk(what, list));
}

static void print_action(struct kmod_module *m, bool install, const char *options)
{
	out("    action %s install=%d options=%s\n", kmod_module_get_name(m), install, options);
}

static int run_install(struct kmod_module *m, const char *cmd, void *data)
{
	out("    run_install %s %s data=%d\n", kmod_module_get_name(m), cmd,
	    data != NULL && strcmp(data, "probe") == 0);
	return 0;
}

static void probe(struct kmod_module *mod, const char *label, unsigned int flags,
		  const char *extra)
{
	int r;
	out("   probe %s %s\n", kmod_module_get_name(mod), label);
	r = kmod_module_probe_insert_module(mod, flags, extra, run_install, "probe",
					    print_action);
	out("    = %s\n", err_name(r));
}

static void module_text(struct kmod_module *mod)
{
	out("  path %s\n", kmod_module_get_path(mod));
	out("  options %s\n", kmod_module_get_options(mod));
	out("  install %s\n", kmod_module_get_install_commands(mod));
	out("  remove %s\n", kmod_module_get_remove_commands(mod));
}

static void module_deps(struct kmod_module *mod)
{
	struct kmod_list *deps = kmod_module_get_dependencies(mod);
	struct kmod_list *pre = NULL, *post = NULL;
	int r;
	names("deps", deps);
	kmod_module_unref_list(deps);
	r = kmod_module_get_softdeps(mod, &pre, &post);
	out("  softdeps %s\n", err_name(r));
	names("pre", pre);
	names("post", post);
	kmod_module_unref_list(pre);
	kmod_module_unref_list(post);
#ifdef KMOD34
	{
		struct kmod_list *weak = NULL;
		r = kmod_module_get_weakdeps(mod, &weak);
		out("  weakdeps %s\n", err_name(r));
		names("weak", weak);
		kmod_module_unref_list(weak);
	}
#endif
}

/* What the kernel view (fake /sys/module, /proc/modules) says of a module. */
static void module_kernel(struct kmod_module *mod)
{
	int st = kmod_module_get_initstate(mod);
	struct kmod_list *l, *holders, *sections;
	out("  initstate %s %s\n", err_name(st < 0 ? st : 0),
	    st < 0 ? "-" : kmod_module_initstate_str(st));
	if (st < 0 || st == KMOD_MODULE_BUILTIN)
		return;
	out("  refcnt %d\n", kmod_module_get_refcnt(mod));
	out("  size %ld\n", kmod_module_get_size(mod));
	holders = kmod_module_get_holders(mod);
	names("holders", holders);
	kmod_module_unref_list(holders);
	sections = kmod_module_get_sections(mod);
	kmod_list_foreach(l, sections)
		out("  section %s %llx\n", kmod_module_section_get_name(l),
		    (unsigned long long)kmod_module_section_get_address(l));
	kmod_module_section_free_list(sections);
}

static void module_elf(struct kmod_module *mod)
{
	struct kmod_list *list = NULL, *l;
	int r = kmod_module_get_info(mod, &list);
	out("  info %s\n", err_name(r < 0 ? r : 0));
	if (r >= 0)
		out("  info count %d walk %d\n", r, walk("info", list));
	kmod_list_foreach(l, list)
		out("   %s=%s\n", kmod_module_info_get_key(l), kmod_module_info_get_value(l));
	kmod_module_info_free_list(list);

	list = NULL;
	r = kmod_module_get_versions(mod, &list);
	out("  versions %s\n", err_name(r < 0 ? r : 0));
	if (r >= 0)
		out("  versions count %d walk %d\n", r, walk("versions", list));
	kmod_list_foreach(l, list)
		out("   %s %llx\n", kmod_module_version_get_symbol(l),
		    (unsigned long long)kmod_module_version_get_crc(l));
	kmod_module_versions_free_list(list);

	list = NULL;
	r = kmod_module_get_symbols(mod, &list);
	out("  symbols %s\n", err_name(r < 0 ? r : 0));
	if (r >= 0)
		out("  symbols count %d walk %d\n", r, walk("symbols", list));
	kmod_list_foreach(l, list)
		out("   %s %llx\n", kmod_module_symbol_get_symbol(l),
		    (unsigned long long)kmod_module_symbol_get_crc(l));
	kmod_module_symbols_free_list(list);

	list = NULL;
	r = kmod_module_get_dependency_symbols(mod, &list);
	out("  depsymbols %s\n", err_name(r < 0 ? r : 0));
	if (r >= 0)
		out("  depsymbols count %d walk %d\n", r, walk("depsymbols", list));
	kmod_list_foreach(l, list) {
		int bind = kmod_module_dependency_symbol_get_bind(l);
		out("   %s %llx %c\n", kmod_module_dependency_symbol_get_symbol(l),
		    (unsigned long long)kmod_module_dependency_symbol_get_crc(l),
		    bind ? bind : '0');
	}
	kmod_module_dependency_symbols_free_list(list);
}

static void config(struct kmod_ctx *ctx)
{
	static const char *kinds[] = { "blacklists", "install", "remove", "aliases",
				       "options", "softdeps", "weakdeps" };
	for (int i = 0; i < 7; i++) {
		struct kmod_config_iter *it = NULL;
		int n = 0;
		switch (i) {
		case 0: it = kmod_config_get_blacklists(ctx); break;
		case 1: it = kmod_config_get_install_commands(ctx); break;
		case 2: it = kmod_config_get_remove_commands(ctx); break;
		case 3: it = kmod_config_get_aliases(ctx); break;
		case 4: it = kmod_config_get_options(ctx); break;
		case 5: it = kmod_config_get_softdeps(ctx); break;
		case 6:
#ifdef KMOD34
			it = kmod_config_get_weakdeps(ctx);
#else
			continue;
#endif
			break;
		}
		out("config %s iter %d\n", kinds[i], it != NULL);
		while (it != NULL && kmod_config_iter_next(it)) {
			out(" %s key=%s value=%s\n", kinds[i], kmod_config_iter_get_key(it),
			    kmod_config_iter_get_value(it));
			n++;
		}
		/* A finished iterator stays finished. */
		if (it != NULL && kmod_config_iter_next(it))
			out(" %s: next after the end is true\n", kinds[i]);
		out("config %s count %d\n", kinds[i], n);
		kmod_config_iter_free_iter(it);
	}
}

static void dump(struct kmod_ctx *ctx)
{
	static const char *kinds[] = { "dep", "alias", "symbol", "builtin.alias", "builtin" };
	for (int i = 0; i < 5; i++) {
		FILE *f = tmpfile();
		char *line = NULL;
		size_t cap = 0;
		int r, n = 0;
		if (f == NULL) {
			perror("tmpfile");
			exit(2);
		}
		r = kmod_dump_index(ctx, (enum kmod_index)i, fileno(f));
		out("dump %s = %s\n", kinds[i], err_name(r));
		rewind(f);
		while (getline(&line, &cap, f) >= 0) {
			line[strcspn(line, "\n")] = '\0';
			out(" %s: %s\n", kinds[i], line);
			n++;
		}
		out("dump %s lines %d\n", kinds[i], n);
		free(line);
		fclose(f);
	}
	out("dump bad kind = %s\n", err_name(kmod_dump_index(ctx, (enum kmod_index)7, 1)));
}

static void lookup(struct kmod_ctx *ctx, const char *name)
{
	struct kmod_list *list = NULL, *filtered, *l;
	int r = kmod_module_new_from_lookup(ctx, name, &list);
	out("lookup %s = %s\n", name, err_name(r));
	names("found", list);
	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l), *byname = NULL;
		int rn = kmod_module_new_from_name(ctx, kmod_module_get_name(m), &byname);
		out("  module %s same-as-name %d\n", kmod_module_get_name(m),
		    rn == 0 && byname == m);
		kmod_module_unref(byname);
		module_text(m);
		kmod_module_unref(m);
	}
	filtered = NULL;
	r = kmod_module_apply_filter(ctx, KMOD_FILTER_BLACKLIST, list, &filtered);
	out("  filter blacklist %s\n", err_name(r));
	names("not blacklisted", filtered);
	kmod_module_unref_list(filtered);
	filtered = NULL;
	r = kmod_module_apply_filter(ctx, KMOD_FILTER_BUILTIN, list, &filtered);
	out("  filter builtin %s\n", err_name(r));
	names("not builtin", filtered);
	kmod_module_unref_list(filtered);
	filtered = NULL;
	r = kmod_module_apply_filter(ctx, KMOD_FILTER_BLACKLIST | KMOD_FILTER_BUILTIN, list,
				     &filtered);
	out("  filter both %s\n", err_name(r));
	names("neither", filtered);
	kmod_module_unref_list(filtered);
	filtered = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	r = kmod_module_get_filtered_blacklist(ctx, list, &filtered);
#pragma GCC diagnostic pop
	out("  filtered_blacklist %s\n", err_name(r));
	names("filtered", filtered);
	kmod_module_unref_list(filtered);

	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l);
		const unsigned int d = KMOD_PROBE_DRY_RUN;
		probe(m, "ignore-loaded", d | KMOD_PROBE_IGNORE_LOADED, NULL);
		probe(m, "loaded", d, NULL);
		probe(m, "fail-on-loaded", d | KMOD_PROBE_FAIL_ON_LOADED, NULL);
		probe(m, "extra-options", d | KMOD_PROBE_IGNORE_LOADED, "extra=1 x");
		probe(m, "ignore-command", d | KMOD_PROBE_IGNORE_LOADED | KMOD_PROBE_IGNORE_COMMAND,
		      NULL);
		probe(m, "blacklist", d | KMOD_PROBE_IGNORE_LOADED | KMOD_PROBE_APPLY_BLACKLIST,
		      NULL);
		probe(m, "blacklist-all",
		      d | KMOD_PROBE_IGNORE_LOADED | KMOD_PROBE_APPLY_BLACKLIST_ALL, NULL);
		probe(m, "blacklist-alias-only",
		      d | KMOD_PROBE_IGNORE_LOADED | KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY, NULL);
		kmod_module_unref(m);
	}
	r = kmod_module_unref_list(list);
	out("  unref_list %s\n", err_name(r));
}

/* Every module of MODDIR/modules.dep, by its name (file name up to the first dot). */
static void modules(struct kmod_ctx *ctx, int step)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	int i = 0;
	FILE *f;
	snprintf(path, sizeof(path), "%s/modules.dep", moddir);
	f = fopen(path, "r");
	if (f == NULL) {
		out("modules.dep: %s\n", err_name(-errno));
		return;
	}
	while (getline(&line, &cap, f) >= 0) {
		char *colon = strchr(line, ':'), *base, *dot, full[4096];
		struct kmod_module *a = NULL, *b = NULL, *p = NULL;
		int r;
		if (colon == NULL)
			continue;
		*colon = '\0';
		if (line[0] == '/')
			snprintf(full, sizeof(full), "%s", line);
		else
			snprintf(full, sizeof(full), "%s/%s", moddir, line);
		base = basename(line);
		dot = strchr(base, '.');
		if (dot)
			*dot = '\0';
		r = kmod_module_new_from_name(ctx, base, &a);
		out("module %s = %s\n", base, err_name(r));
		if (r < 0)
			continue;
		r = kmod_module_new_from_name(ctx, base, &b);
		out("  name %s again %s same %d\n", kmod_module_get_name(a), err_name(r), a == b);
		kmod_module_unref(b);
		module_text(a);
		module_deps(a);
		module_kernel(a);
		r = kmod_module_new_from_path(ctx, full, &p);
		out("  from_path %s %s same %d\n", err_name(r), kmod_module_get_name(p), p == a);
		if (step > 0 && i % step == 0)
			module_elf(p != NULL ? p : a);
		kmod_module_unref(p);
		if (kmod_module_unref(a) != NULL)
			out("  still referenced after the last unref\n");
		i++;
	}
	free(line);
	fclose(f);
	out("modules %d\n", i);
}

/* kmod_module_new_from_loaded: /proc/modules, as libblockdev and lsmod read it. */
static void loaded(struct kmod_ctx *ctx)
{
	struct kmod_list *list = NULL, *l;
	int r = kmod_module_new_from_loaded(ctx, &list);
	out("loaded %s\n", err_name(r));
	names("loaded", list);
	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l);
		out(" loaded module %s\n", kmod_module_get_name(m));
		out("  path %s\n", kmod_module_get_path(m));
		module_kernel(m);
		kmod_module_unref(m);
	}
	kmod_module_unref_list(list);
}

static void errors(struct kmod_ctx *ctx)
{
	struct kmod_list *list = NULL, *l2 = NULL;
	struct kmod_module *m = NULL, *m2 = NULL;
	char path[4096];
	int r;

	out("errors\n");
	r = kmod_module_new_from_lookup(ctx, "e1000e", &list);
	out(" lookup into a new list %s\n", err_name(r));
	l2 = list;
	r = kmod_module_new_from_lookup(ctx, "e1000e", &l2);
	out(" lookup into a non-empty list %s same-list %d\n", err_name(r), l2 == list);
	kmod_module_unref_list(list);
	r = kmod_module_new_from_lookup(ctx, "e1000e", NULL);
	out(" lookup into NULL %s\n", err_name(r));
	list = NULL;
	r = kmod_module_new_from_lookup(ctx, NULL, &list);
	out(" lookup NULL name %s list %d\n", err_name(r), list != NULL);
	r = kmod_module_new_from_lookup(NULL, "e1000e", &list);
	out(" lookup NULL ctx %s list %d\n", err_name(r), list != NULL);
	r = kmod_module_new_from_lookup(ctx, "", &list);
	out(" lookup empty %s list %d\n", err_name(r), list != NULL);
	kmod_module_unref_list(list);
	list = NULL;

	out(" from_name NULL ctx %s\n", err_name(kmod_module_new_from_name(NULL, "x", &m)));
	out(" from_name NULL name %s\n", err_name(kmod_module_new_from_name(ctx, NULL, &m)));
	out(" from_name NULL out %s\n", err_name(kmod_module_new_from_name(ctx, "x", NULL)));
	out(" from_path NULL %s\n", err_name(kmod_module_new_from_path(ctx, NULL, &m)));
	r = kmod_module_new_from_path(ctx, "/nonexistent/dir/foo.ko", &m);
	out(" from_path missing %s\n", err_name(r));
	snprintf(path, sizeof(path), "%s/kernel", moddir);
	m = NULL;
	r = kmod_module_new_from_path(ctx, path, &m);
	out(" from_path directory %s name %s\n", err_name(r), kmod_module_get_name(m));
	kmod_module_unref(m);
	snprintf(path, sizeof(path), "%s/modules.order", moddir);
	m = NULL;
	r = kmod_module_new_from_path(ctx, path, &m);
	out(" from_path text file %s name %s path %s\n", err_name(r), kmod_module_get_name(m),
	    kmod_module_get_path(m));
	if (m != NULL) {
		out(" text file as a module:\n");
		module_elf(m);
	}
	/* Same name, another path: kmod refuses a second path for a module it has. */
	snprintf(path, sizeof(path), "%s/modules.builtin", moddir);
	m2 = NULL;
	r = kmod_module_new_from_path(ctx, path, &m2);
	out(" from_path second path for the same name %s same %d\n", err_name(r),
	    m2 != NULL && m2 == m);
	kmod_module_unref(m2);
	kmod_module_unref(m);

	r = kmod_module_new_from_name(ctx, "a-b-c", &m);
	out(" from_name a-b-c %s name %s path %s\n", err_name(r), kmod_module_get_name(m),
	    kmod_module_get_path(m));
	r = kmod_module_new_from_name(ctx, "a_b_c", &m2);
	out(" from_name a_b_c same %d\n", m == m2);
	module_deps(m);
	kmod_module_unref(m2);
	kmod_module_unref(m);
	r = kmod_module_new_from_name(ctx, "e1000e.ko", &m);
	out(" from_name e1000e.ko %s name %s path %s\n", err_name(r), kmod_module_get_name(m),
	    kmod_module_get_path(m));
	kmod_module_unref(m);

	out(" get_name NULL %s\n", kmod_module_get_name(NULL));
	out(" get_path NULL %s\n", kmod_module_get_path(NULL));
	out(" get_options NULL %s\n", kmod_module_get_options(NULL));
	out(" get_module NULL %d\n", kmod_module_get_module(NULL) != NULL);
	out(" get_dependencies NULL %d\n", kmod_module_get_dependencies(NULL) != NULL);
	out(" get_softdeps NULL %s\n", err_name(kmod_module_get_softdeps(NULL, &list, &l2)));
	out(" get_info NULL %s\n", err_name(kmod_module_get_info(NULL, &list)));
	out(" get_versions NULL %s\n", err_name(kmod_module_get_versions(NULL, &list)));
	out(" get_symbols NULL %s\n", err_name(kmod_module_get_symbols(NULL, &list)));
	out(" get_dependency_symbols NULL %s\n",
	    err_name(kmod_module_get_dependency_symbols(NULL, &list)));
	out(" get_initstate NULL %s\n", err_name(kmod_module_get_initstate(NULL)));
	out(" get_refcnt NULL %s\n", err_name(kmod_module_get_refcnt(NULL)));
	out(" probe NULL %s\n", err_name(kmod_module_probe_insert_module(NULL, 0, NULL, NULL,
									   NULL, NULL)));
	out(" apply_filter NULL ctx %s\n",
	    err_name(kmod_module_apply_filter(NULL, KMOD_FILTER_BLACKLIST, NULL, &list)));
	out(" apply_filter NULL output %s\n",
	    err_name(kmod_module_apply_filter(ctx, KMOD_FILTER_BLACKLIST, NULL, NULL)));
	list = NULL;
	r = kmod_module_apply_filter(ctx, KMOD_FILTER_BLACKLIST, NULL, &list);
	out(" apply_filter empty input %s list %d\n", err_name(r), list != NULL);
	out(" unref_list NULL %s\n", err_name(kmod_module_unref_list(NULL)));
	out(" module_unref NULL %d\n", kmod_module_unref(NULL) != NULL);
	out(" module_ref NULL %d\n", kmod_module_ref(NULL) != NULL);
	out(" list_last NULL %d\n", kmod_list_last(NULL) != NULL);
	out(" list_next NULL %d\n", kmod_list_next(NULL, NULL) != NULL);
	out(" list_prev NULL %d\n", kmod_list_prev(NULL, NULL) != NULL);
	for (int i = 0; i <= 4; i++)
		out(" initstate_str %d %s\n", i,
		    kmod_module_initstate_str((enum kmod_module_initstate)i));
	out(" validate NULL %d\n", kmod_validate_resources(NULL));
	out(" load NULL %s\n", err_name(kmod_load_resources(NULL)));
	out(" dump NULL %s\n", err_name(kmod_dump_index(NULL, KMOD_INDEX_MODULES_DEP, 1)));
	out(" log priority NULL %d\n", kmod_get_log_priority(NULL));
	out(" userdata NULL %d\n", kmod_get_userdata(NULL) != NULL);
	out(" config NULL %d\n", kmod_config_get_aliases(NULL) != NULL);
	out(" config iter NULL next %d key %s value %s\n", kmod_config_iter_next(NULL),
	    kmod_config_iter_get_key(NULL), kmod_config_iter_get_value(NULL));
	out(" info_get_key NULL %s\n", kmod_module_info_get_key(NULL));
	out(" version_get_crc NULL %llx\n",
	    (unsigned long long)kmod_module_version_get_crc(NULL));
	out(" depsym_get_bind NULL %s\n",
	    err_name(kmod_module_dependency_symbol_get_bind(NULL)));
	out(" section_get_address NULL %llx\n",
	    (unsigned long long)kmod_module_section_get_address(NULL));

	/* name_lookup: modules.dep and the builtin indexes only, no aliases. Resolved by
	 * dlsym (the default version): kmod 30 exports it as LIBKMOD_5, kmod 34.2 as
	 * LIBKMOD_30, so a versioned reference would tie this program to one of them. */
	{
		int (*name_lookup)(struct kmod_ctx *, const char *, struct kmod_module **) =
			(int (*)(struct kmod_ctx *, const char *, struct kmod_module **))dlsym(
				RTLD_DEFAULT, "kmod_module_new_from_name_lookup");
		const char *nl[] = { "e1000e", "e1000-e", "ext4", "pci:v00008086d000010D3sv*",
				     "crc32c", "unix", "nonexistent_module", "", NULL };
		for (int i = 0; nl[i]; i++) {
			m = NULL;
			r = name_lookup(ctx, nl[i], &m);
			out(" name_lookup %s %s name %s path %s\n", nl[i], err_name(r),
			    kmod_module_get_name(m), kmod_module_get_path(m));
			kmod_module_unref(m);
		}
		out(" name_lookup NULL %s\n",
		    err_name(name_lookup(ctx, NULL, &m)));
	}
}

static void refcounts(struct kmod_ctx *ctx)
{
	struct kmod_module *a = NULL, *b = NULL, *c = NULL;
	struct kmod_list *list = NULL, *l;
	out("refcounts\n");
	out(" ctx ref same %d\n", kmod_ref(ctx) == ctx);
	out(" ctx unref keeps %d\n", kmod_unref(ctx) == ctx);
	kmod_module_new_from_name(ctx, "refcount_test", &a);
	kmod_module_new_from_name(ctx, "refcount-test", &b);
	out(" same %d ref same %d\n", a == b, kmod_module_ref(a) == a);
	out(" unref 1 keeps %d\n", kmod_module_unref(a) == a);
	out(" unref 2 keeps %d\n", kmod_module_unref(a) == a);
	out(" unref 3 frees %d\n", kmod_module_unref(b) == NULL);
	kmod_module_new_from_name(ctx, "refcount_test", &c);
	out(" new after free: path %s\n", kmod_module_get_path(c));
	kmod_module_unref(c);
	/* A lookup's list holds references; get_module adds one. */
	kmod_module_new_from_lookup(ctx, "e1000e", &list);
	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l);
		out(" lookup module unref keeps %d\n", kmod_module_unref(m) == m);
	}
	kmod_module_unref_list(list);
	kmod_set_userdata(ctx, "user");
	out(" userdata %s\n", (const char *)kmod_get_userdata(ctx));
}

int main(int argc, char *argv[])
{
	const char *configs[64];
	int nconf = 0, step = 1, opt, r;
	bool null_config = false;
	struct kmod_ctx *ctx;
	struct utsname u;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	while ((opt = getopt(argc, argv, "c:ns:")) != -1) {
		switch (opt) {
		case 'c':
			if (nconf < 63)
				configs[nconf++] = optarg;
			break;
		case 'n':
			null_config = true;
			break;
		case 's':
			step = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-c CONFIG]... [-n] [-s STEP] MODDIR NAMES\n",
				argv[0]);
			return 2;
		}
	}
	configs[nconf] = NULL;
	if (argc - optind != 2) {
		fprintf(stderr, "usage: %s [-c CONFIG]... [-n] [-s STEP] MODDIR NAMES\n", argv[0]);
		return 2;
	}
	moddir = argv[optind];
	moddir_len = strlen(moddir);
	if (uname(&u) == 0)
		snprintf(release, sizeof(release), "%s", u.release);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	/* The default context: only its directory is printed (with $RELEASE). */
	ctx = kmod_new(NULL, NULL);
	out("default ctx %d dirname %s log priority %d\n", ctx != NULL, kmod_get_dirname(ctx),
	    kmod_get_log_priority(ctx));
	kmod_unref(ctx);

	ctx = kmod_new(moddir, null_config ? NULL : configs);
	if (ctx == NULL) {
		out("kmod_new failed\n");
		return 1;
	}
	kmod_set_log_fn(ctx, log_fn, "consumer");
	kmod_set_log_priority(ctx, LOG_INFO);
	out("log priority %d\n", kmod_get_log_priority(ctx));
	out("dirname %s\n", kmod_get_dirname(ctx));
	out("validate before load %d\n", kmod_validate_resources(ctx));
	r = kmod_load_resources(ctx);
	out("load_resources %s\n", err_name(r));
	out("load_resources again %s\n", err_name(kmod_load_resources(ctx)));
	out("validate %d\n", kmod_validate_resources(ctx));
	config(ctx);
	dump(ctx);

	f = fopen(argv[optind + 1], "r");
	if (f == NULL) {
		perror(argv[optind + 1]);
		return 2;
	}
	while (getline(&line, &cap, f) >= 0) {
		line[strcspn(line, "\n")] = '\0';
		lookup(ctx, line);
	}
	free(line);
	fclose(f);

	modules(ctx, step);
	loaded(ctx);
	errors(ctx);
	refcounts(ctx);

	kmod_unload_resources(ctx);
	out("validate after unload %d\n", kmod_validate_resources(ctx));
	{
		struct kmod_list *list = NULL;
		r = kmod_module_new_from_lookup(ctx, "e1000e", &list);
		out("lookup after unload %s\n", err_name(r));
		names("found", list);
		kmod_module_unref_list(list);
	}
	out("ctx last unref frees %d\n", kmod_unref(ctx) == NULL);
	return 0;
}
