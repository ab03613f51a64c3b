/*
 * misc.c -- small helpers of the public API: type and operator names, random
 * UUIDs and ISO-8601 timestamps.
 */
#include "assoc_int.h"

#include <stdio.h>
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

void assoc_now_iso(char out[25]) {
  struct timespec ts;
  struct tm tm;
  char buf[96];
  clock_gettime(CLOCK_REALTIME, &ts);
  if (gmtime_r(&ts.tv_sec, &tm) == NULL) memset(&tm, 0, sizeof tm);
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
           tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
  memcpy(out, buf, 24);
  out[24] = '\0';
}
