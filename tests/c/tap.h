/*
 * tap.h -- a tiny TAP producer for the C unit tests.
 *
 *   ok(cond, "desc %d", x);           is_int(got, expected, "desc");
 *   is_str(got, expected, "desc");    diag("note %s", s);
 *   return done_testing();            prints 1..N; 1 when anything failed
 *
 * Failures print `not ok N - desc` followed by `# ` lines with the file,
 * line, and the got/expected values.  One test program per file includes it.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

static void tap_line(int pass, const char *fmt, va_list ap) {
  printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
  vprintf(fmt, ap);
  printf("\n");
  if (!pass) tap_failed++;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int tap_ok(int pass, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tap_line(pass, fmt, ap);
  va_end(ap);
  if (!pass) printf("#   Failed at %s line %d\n", file, line);
  fflush(stdout);
  return pass;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int tap_is_int(long long got, long long want, const char *file,
                      int line, const char *fmt, ...) {
  va_list ap;
  int pass = got == want;
  va_start(ap, fmt);
  tap_line(pass, fmt, ap);
  va_end(ap);
  if (!pass)
    printf("#   Failed at %s line %d\n#          got: %lld\n#     expected: %lld\n",
           file, line, got, want);
  fflush(stdout);
  return pass;
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int tap_is_str(const char *got, const char *want, const char *file,
                      int line, const char *fmt, ...) {
  va_list ap;
  int pass = (got == NULL && want == NULL) ||
             (got != NULL && want != NULL && strcmp(got, want) == 0);
  va_start(ap, fmt);
  tap_line(pass, fmt, ap);
  va_end(ap);
  if (!pass)
    printf("#   Failed at %s line %d\n#          got: %s%s%s\n#     expected: %s%s%s\n",
           file, line, got ? "'" : "", got ? got : "NULL", got ? "'" : "",
           want ? "'" : "", want ? want : "NULL", want ? "'" : "");
  fflush(stdout);
  return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
  tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
  tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static int done_testing(void) {
  printf("1..%d\n", tap_count);
  if (tap_failed) printf("# Looks like you failed %d test%s of %d.\n", tap_failed,
                         tap_failed == 1 ? "" : "s", tap_count);
  fflush(stdout);
  return tap_failed ? 1 : 0;
}

#endif /* TAP_H */
