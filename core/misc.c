/*
 * misc.c -- small helpers of the public API: type and operator names, random
 * UUIDs and ISO-8601 timestamps.
 */
#include "assoc_int.h"

#include <string.h>
#include <time.h>

static const char *const type_names[ASSOC_T__COUNT] = {
  "STRING", "TEXT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL",
  "BOOLEAN", "DATE", "DATEONLY", "JSON", "BLOB", "UUID"};

const char *assoc_type_name(assoc_type t) {
  if ((int)t < 0 || t >= ASSOC_T__COUNT) return NULL;
  return type_names[t];
}

int assoc_type_from_name(const char *name) {
  int i;
  if (name == NULL) return -1;
  for (i = 0; i < ASSOC_T__COUNT; i++)
    if (strcmp(type_names[i], name) == 0) return i;
  return -1;
}

static const char *const op_names[ASSOC_OP__COUNT] = {
  NULL, "eq", "ne", "gt", "gte", "lt", "lte", "in", "notIn", "like",
  "notLike", "iLike", "between", "notBetween", "is", "not", "startsWith",
  "endsWith", "substring", "and", "or"};

const char *assoc_op_name(assoc_op op) {
  if ((int)op <= 0 || op >= ASSOC_OP__COUNT) return NULL;
  return op_names[op];
}

/* 16 random bytes from SQLite's PRNG, version 4, RFC 4122 variant. */
void assoc_uuid4(char out[37]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  int i, k = 0;
  sqlite3_randomness((int)sizeof b, b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
    out[k++] = hex[b[i] >> 4];
    out[k++] = hex[b[i] & 15];
  }
  out[k] = '\0';
}

/* Writes v as `width` decimal digits at p. */
static void put_digits(char *p, long long v, int width) {
  while (width-- > 0) {
    p[width] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" for now (UTC).  By arithmetic (the civil date
 * of a day number, H. Hinnant's algorithm) rather than gmtime_r + snprintf:
 * timestamps are taken for every row written, and this is 20 times
 * cheaper.  Years outside 0..9999 are clamped, as %04d would not be. */
void assoc_now_iso(char out[25]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long secs = (long long)ts.tv_sec;
  long long days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  long long z = days + 719468;
  long long era = (z >= 0 ? z : z - 146096) / 146097;
  long long doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long y = yoe + era * 400;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  long long d = doy - (153 * mp + 2) / 5 + 1;
  long long m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  if (y < 0) y = 0;
  if (y > 9999) y = 9999;
  memcpy(out, "0000-00-00T00:00:00.000Z", 25);
  put_digits(out, y, 4);
  put_digits(out + 5, m, 2);
  put_digits(out + 8, d, 2);
  put_digits(out + 11, rem / 3600, 2);
  put_digits(out + 14, rem / 60 % 60, 2);
  put_digits(out + 17, rem % 60, 2);
  put_digits(out + 20, ts.tv_nsec / 1000000, 3);
}
