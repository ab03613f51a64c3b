/*
 * naming.c -- English inflection and case conversion for default names
 * (table names, foreign keys, accessors).
 *
 * The plural and singular rules are those of the npm `inflection` library
 * that Sequelize uses (its ordered regex lists, rewritten here as suffix
 * rules: the first rule that matches wins; a rule without a replacement
 * means "already inflected, leave it"), plus a few irregulars (cow/kine,
 * zombie/zombies, leaf/leaves, ...) and fixes of two known slips of the
 * original (analyses -> analysis, shoes -> shoe).  Only the last word of a
 * CamelCase or snake_case name is inflected ("UserProject" ->
 * "UserProjects"); the case of the rest is kept.  Each public function
 * writes a NUL-terminated result into a caller buffer and returns its length
 * or -1 when it does not fit.
 */
#include "assoc_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct rule {
  const char *suf;     /* lowercase suffix the word ends with */
  const char *pre;     /* NULL, or the set the byte before must be in ("^":
                          not in); that byte must exist */
  unsigned char whole; /* the word must be exactly suf */
  unsigned char keep;  /* bytes of suf kept before repl */
  const char *repl;    /* NULL: leave the word as it is */
} rule;

/* Nouns with one form for both numbers (inflection's list, lower case). */
static const char *const uncountable[] = {
  "accommodation", "adulthood", "advertising", "advice", "aggression", "aid",
  "air", "aircraft", "alcohol", "anger", "applause", "arithmetic",
  "assistance", "athletics", "bacon", "baggage", "beef", "biology", "blood",
  "botany", "bread", "butter", "carbon", "cardboard", "cash", "chalk",
  "chaos", "chess", "crossroads", "countryside", "dancing", "deer",
  "dignity", "dirt", "dust", "economics", "education", "electricity",
  "engineering", "enjoyment", "envy", "equipment", "ethics", "evidence",
  "evolution", "fame", "fiction", "fish", "flour", "flu", "food", "fuel",
  "fun", "furniture", "gallows", "garbage", "garlic", "genetics", "gold",
  "golf", "gossip", "gratitude", "grief", "guilt", "gymnastics",
  "happiness", "hardware", "harm", "hate", "hatred", "health", "heat",
  "help", "homework", "honesty", "honey", "hospitality", "housework",
  "humour", "hunger", "hydrogen", "ice", "importance", "inflation",
  "information", "innocence", "iron", "irony", "jam", "jewelry", "judo",
  "karate", "knowledge", "lack", "laughter", "lava", "leather", "leisure",
  "lightning", "linguine", "linguini", "linguistics", "literature",
  "litter", "livestock", "logic", "loneliness", "luck", "luggage",
  "macaroni", "machinery", "magic", "management", "mankind", "marble",
  "mathematics", "mayonnaise", "measles", "methane", "milk", "minus",
  "money", "moose", "mud", "music", "mumps", "nature", "news", "nitrogen",
  "nonsense", "nurture", "nutrition", "obedience", "obesity", "oxygen",
  "pasta", "patience", "physics", "poetry", "pollution", "poverty",
  "pride", "psychology", "publicity", "punctuation", "quartz", "racism",
  "relaxation", "reliability", "research", "respect", "revenge", "rice",
  "rubbish", "rum", "safety", "scenery", "seafood", "seaside", "series",
  "shame", "sheep", "shopping", "sleep", "smoke", "smoking", "snow",
  "soap", "software", "soil", "spaghetti", "species", "steam", "stuff",
  "stupidity", "sunshine", "symmetry", "tennis", "thirst", "thunder",
  "timber", "traffic", "transportation", "trust", "underwear",
  "unemployment", "unity", "validity", "veal", "vegetation",
  "vegetarianism", "vengeance", "violence", "vitality", "warmth", "wealth",
  "weather", "welfare", "wheat", "wildlife", "wisdom", "yoga", "zinc",
  "zoology", NULL};

#define R(suf, pre, whole, keep, repl) {suf, pre, whole, keep, repl}

/* singular -> plural */
static const rule plural_rules[] = {
  /* already plural */
  R("men", NULL, 1, 0, NULL), R("women", NULL, 1, 0, NULL),
  R("people", NULL, 0, 0, NULL), R("children", NULL, 0, 0, NULL),
  R("kine", NULL, 1, 0, NULL),
  R("a", "ti", 0, 0, NULL),
  R("analyses", NULL, 0, 0, NULL), R("bases", NULL, 0, 0, NULL),
  R("diagnoses", NULL, 0, 0, NULL), R("parentheses", NULL, 0, 0, NULL),
  R("prognoses", NULL, 0, 0, NULL), R("synopses", NULL, 0, 0, NULL),
  R("theses", NULL, 0, 0, NULL),
  R("databases", NULL, 0, 0, NULL), R("drives", NULL, 0, 0, NULL),
  R("hives", NULL, 0, 0, NULL), R("tives", NULL, 0, 0, NULL),
  R("curves", NULL, 0, 0, NULL),
  R("ves", "lr", 0, 0, NULL), R("ves", "^fo", 0, 0, NULL),
  R("ies", "^aeiouy", 0, 0, NULL), R("quies", NULL, 0, 0, NULL),
  R("series", NULL, 0, 0, NULL), R("movies", NULL, 0, 0, NULL),
  R("xes", NULL, 0, 0, NULL), R("ches", NULL, 0, 0, NULL),
  R("sses", NULL, 0, 0, NULL), R("shes", NULL, 0, 0, NULL),
  R("mice", NULL, 0, 0, NULL), R("lice", NULL, 0, 0, NULL),
  R("buses", NULL, 0, 0, NULL), R("oes", NULL, 0, 0, NULL),
  R("shoes", NULL, 0, 0, NULL),
  R("crises", NULL, 0, 0, NULL), R("axes", NULL, 0, 0, NULL),
  R("testes", NULL, 0, 0, NULL),
  R("octopuses", NULL, 0, 0, NULL), R("viruses", NULL, 0, 0, NULL),
  R("aliases", NULL, 0, 0, NULL), R("canvases", NULL, 0, 0, NULL),
  R("statuses", NULL, 0, 0, NULL), R("campuses", NULL, 0, 0, NULL),
  R("summonses", NULL, 1, 0, NULL), R("bonuses", NULL, 1, 0, NULL),
  R("oxen", NULL, 1, 0, NULL),
  R("matrices", NULL, 0, 0, NULL), R("vertices", NULL, 0, 0, NULL),
  R("indices", NULL, 0, 0, NULL),
  R("feet", NULL, 1, 0, NULL), R("teeth", NULL, 1, 0, NULL),
  R("geese", NULL, 1, 0, NULL), R("quizzes", NULL, 0, 0, NULL),
  R("whereases", NULL, 1, 0, NULL), R("criteria", NULL, 1, 0, NULL),
  R("genera", NULL, 1, 0, NULL),
  /* rules */
  R("man", NULL, 1, 1, "en"), R("woman", NULL, 1, 3, "en"),
  R("person", NULL, 0, 2, "ople"), R("child", NULL, 0, 5, "ren"),
  R("cow", NULL, 1, 0, "kine"),
  R("drive", NULL, 0, 5, "s"), R("ox", NULL, 1, 2, "en"),
  R("axis", NULL, 0, 2, "es"), R("testis", NULL, 0, 4, "es"),
  R("octopus", NULL, 0, 5, "uses"), R("virus", NULL, 0, 3, "uses"),
  R("alias", NULL, 0, 5, "es"), R("status", NULL, 0, 6, "es"),
  R("canvas", NULL, 0, 6, "es"), R("campus", NULL, 0, 6, "es"),
  R("summons", NULL, 1, 7, "es"), R("bonus", NULL, 1, 5, "es"),
  R("bus", NULL, 0, 2, "ses"),
  R("buffalo", NULL, 0, 6, "oes"), R("tomato", NULL, 0, 5, "oes"),
  R("potato", NULL, 0, 5, "oes"),
  R("um", "ti", 0, 0, "a"), R("sis", NULL, 0, 0, "ses"),
  R("leaf", NULL, 0, 3, "ves"), R("loaf", NULL, 0, 3, "ves"),
  R("sheaf", NULL, 0, 4, "ves"), R("thief", NULL, 0, 4, "ves"),
  R("fe", "^f", 0, 0, "ves"), R("lf", NULL, 0, 1, "ves"),
  R("rf", NULL, 0, 1, "ves"),
  R("hive", NULL, 0, 2, "ves"), R("tive", NULL, 0, 2, "ves"),
  R("y", "^aeiouy", 0, 0, "ies"), R("quy", NULL, 0, 2, "ies"),
  R("matrix", NULL, 0, 4, "ices"), R("vertex", NULL, 0, 4, "ices"),
  R("index", NULL, 0, 3, "ices"),
  R("x", NULL, 0, 1, "es"), R("ch", NULL, 0, 2, "es"),
  R("ss", NULL, 0, 2, "es"), R("sh", NULL, 0, 2, "es"),
  R("mouse", NULL, 0, 1, "ice"), R("louse", NULL, 0, 1, "ice"),
  R("foot", NULL, 1, 0, "feet"), R("tooth", NULL, 1, 0, "teeth"),
  R("goose", NULL, 1, 0, "geese"), R("quiz", NULL, 0, 4, "zes"),
  R("whereas", NULL, 1, 7, "es"), R("criterion", NULL, 1, 7, "a"),
  R("genus", NULL, 1, 0, "genera"),
  R("s", NULL, 0, 0, NULL),
  R("", NULL, 0, 0, "s"),
};

/* plural -> singular */
static const rule singular_rules[] = {
  /* already singular */
  R("man", NULL, 1, 0, NULL), R("woman", NULL, 1, 0, NULL),
  R("person", NULL, 0, 0, NULL), R("child", NULL, 0, 0, NULL),
  R("drive", NULL, 0, 0, NULL), R("ox", NULL, 1, 0, NULL),
  R("axis", NULL, 0, 0, NULL), R("testis", NULL, 0, 0, NULL),
  R("octopus", NULL, 0, 0, NULL), R("virus", NULL, 0, 0, NULL),
  R("alias", NULL, 0, 0, NULL), R("status", NULL, 0, 0, NULL),
  R("canvas", NULL, 0, 0, NULL), R("campus", NULL, 0, 0, NULL),
  R("summons", NULL, 1, 0, NULL), R("bonus", NULL, 1, 0, NULL),
  R("bus", NULL, 0, 0, NULL),
  R("buffalo", NULL, 0, 0, NULL), R("tomato", NULL, 0, 0, NULL),
  R("potato", NULL, 0, 0, NULL),
  R("um", "ti", 0, 0, NULL), R("sis", NULL, 0, 0, NULL),
  R("leaf", NULL, 0, 0, NULL), R("loaf", NULL, 0, 0, NULL),
  R("fe", "^f", 0, 0, NULL), R("lf", NULL, 0, 0, NULL),
  R("rf", NULL, 0, 0, NULL),
  R("hive", NULL, 0, 0, NULL), R("tive", NULL, 0, 0, NULL),
  R("y", "^aeiouy", 0, 0, NULL), R("quy", NULL, 0, 0, NULL),
  R("x", NULL, 0, 0, NULL), R("ch", NULL, 0, 0, NULL),
  R("ss", NULL, 0, 0, NULL), R("sh", NULL, 0, 0, NULL),
  R("matrix", NULL, 0, 0, NULL),
  R("mouse", NULL, 0, 0, NULL), R("louse", NULL, 0, 0, NULL),
  R("foot", NULL, 1, 0, NULL), R("tooth", NULL, 1, 0, NULL),
  R("goose", NULL, 1, 0, NULL), R("quiz", NULL, 0, 0, NULL),
  R("whereas", NULL, 1, 0, NULL), R("criterion", NULL, 1, 0, NULL),
  R("genus", NULL, 1, 0, NULL),
  /* rules */
  R("men", NULL, 1, 1, "an"), R("women", NULL, 1, 3, "an"),
  R("people", NULL, 0, 2, "rson"), R("children", NULL, 0, 5, ""),
  R("kine", NULL, 1, 0, "cow"), R("zombies", NULL, 0, 6, ""),
  R("databases", NULL, 0, 8, ""), R("drives", NULL, 0, 5, ""),
  R("genera", NULL, 1, 0, "genus"), R("criteria", NULL, 1, 7, "on"),
  R("a", "ti", 0, 0, "um"),
  R("analyses", NULL, 0, 5, "sis"), R("bases", NULL, 0, 2, "sis"),
  R("diagnoses", NULL, 0, 6, "sis"), R("parentheses", NULL, 0, 8, "sis"),
  R("prognoses", NULL, 0, 6, "sis"), R("synopses", NULL, 0, 5, "sis"),
  R("theses", NULL, 0, 3, "sis"),
  R("hives", NULL, 0, 2, "ve"), R("tives", NULL, 0, 2, "ve"),
  R("curves", NULL, 0, 5, ""),
  R("leaves", NULL, 0, 3, "f"), R("loaves", NULL, 0, 3, "f"),
  R("sheaves", NULL, 0, 4, "f"), R("thieves", NULL, 0, 4, "f"),
  R("ves", "lr", 0, 0, "f"), R("ves", "a", 0, 0, "ve"),
  R("ves", "^fo", 0, 0, "fe"),
  R("movies", NULL, 0, 5, ""),
  R("ies", "^aeiouy", 0, 0, "y"), R("quies", NULL, 0, 2, "y"),
  R("series", NULL, 0, 6, ""),
  R("axes", NULL, 1, 2, "is"), /* before -xes: "Taxes" -> "Tax" */
  R("xes", NULL, 0, 1, ""), R("ches", NULL, 0, 2, ""),
  R("sses", NULL, 0, 2, ""), R("shes", NULL, 0, 2, ""),
  R("mice", NULL, 0, 1, "ouse"), R("lice", NULL, 0, 1, "ouse"),
  R("buses", NULL, 0, 3, ""), R("shoes", NULL, 0, 4, ""),
  R("oes", NULL, 0, 1, ""),
  R("crises", NULL, 0, 4, "is"), R("axes", NULL, 0, 2, "is"),
  R("testes", NULL, 0, 4, "is"),
  R("octopuses", NULL, 0, 5, "us"), R("viruses", NULL, 0, 3, "us"),
  R("aliases", NULL, 0, 5, ""), R("canvases", NULL, 0, 6, ""),
  R("statuses", NULL, 0, 6, ""), R("campuses", NULL, 0, 6, ""),
  R("summonses", NULL, 1, 7, ""), R("bonuses", NULL, 1, 5, ""),
  R("oxen", NULL, 1, 2, ""),
  R("matrices", NULL, 0, 4, "ix"), R("vertices", NULL, 0, 4, "ex"),
  R("indices", NULL, 0, 3, "ex"),
  R("feet", NULL, 1, 0, "foot"), R("teeth", NULL, 1, 0, "tooth"),
  R("geese", NULL, 1, 0, "goose"), R("quizzes", NULL, 0, 4, ""),
  R("whereases", NULL, 1, 7, ""),
  R("ss", NULL, 0, 2, ""),
  R("s", NULL, 0, 0, ""),
};

#undef R

static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int to_lower(int c) { return is_upper(c) ? c + 32 : c; }
static int to_upper(int c) { return is_lower(c) ? c - 32 : c; }

static int ieq_n(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i]))
      return 0;
  return 1;
}

/* Start of the last word of s (n bytes): after the last separator, or at
 * the last CamelCase hump ("UserProject" -> 4, "HTMLParser" -> 4). */
static size_t last_word(const char *s, size_t n) {
  size_t i;
  for (i = n; i-- > 1;) {
    int c = (unsigned char)s[i], p = (unsigned char)s[i - 1];
    if (p == '_' || p == ' ' || p == '-' || p == '.' || p == '/' || p == ':')
      return i;
    if (is_upper(c) && (is_lower(p) || is_digit(p))) return i;
    if (is_upper(c) && is_upper(p) && i + 1 < n &&
        is_lower((unsigned char)s[i + 1]))
      return i;
  }
  return 0;
}

static int rule_match(const rule *r, const char *w, size_t wl) {
  size_t sl = strlen(r->suf);
  if (sl > wl || (r->whole && sl != wl)) return 0;
  if (!ieq_n(w + wl - sl, r->suf, sl)) return 0;
  if (r->pre != NULL) {
    const char *set = r->pre;
    int neg = 0, c, in;
    if (wl == sl) return 0;
    if (*set == '^') {
      neg = 1;
      set++;
    }
    c = to_lower((unsigned char)w[wl - sl - 1]);
    in = c != 0 && strchr(set, c) != NULL;
    if (in == neg) return 0;
  }
  return 1;
}

/* Writes s[0..n) into out at *len when it fits; always advances *len. */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n) {
  if (*len + n < cap) memcpy(out + *len, s, n);
  *len += n;
}

static int finish(char *out, size_t cap, size_t len) {
  if (out == NULL || len >= cap || len > 0x7fffffff) {
    if (out != NULL && cap > 0) out[0] = '\0';
    return -1;
  }
  out[len] = '\0';
  return (int)len;
}

/* Inflects the last word of `word` with `rules`.  Returns the result length
 * (written to out when it fits) as size_t. */
static size_t inflect(const char *word, const rule *rules, size_t nrules,
                      char *out, size_t cap) {
  size_t n = strlen(word), ws = last_word(word, n), wl = n - ws, len = 0, i;
  const char *w = word + ws;
  const rule *r = NULL;
  for (i = 0; uncountable[i] != NULL; i++)
    if (strlen(uncountable[i]) == wl && ieq_n(w, uncountable[i], wl)) break;
  if (uncountable[i] == NULL) {
    for (i = 0; i < nrules; i++)
      if (rule_match(&rules[i], w, wl)) {
        r = &rules[i];
        break;
      }
  }
  if (r == NULL || r->repl == NULL) {
    put(out, cap, &len, word, n);
  } else {
    size_t cut = n - strlen(r->suf) + r->keep;
    put(out, cap, &len, word, cut);
    put(out, cap, &len, r->repl, strlen(r->repl));
    /* keep the case of the word's first letter ("Foot" -> "Feet") */
    if (wl > 0 && ws < len && ws < cap && is_upper((unsigned char)w[0]))
      out[ws] = (char)to_upper((unsigned char)out[ws]);
  }
  return len;
}

int assoc_pluralize(const char *word, char *out, size_t cap) {
  if (word == NULL) return finish(out, cap, (size_t)-1);
  return finish(out, cap,
                inflect(word, plural_rules,
                        sizeof plural_rules / sizeof plural_rules[0], out,
                        out ? cap : 0));
}

int assoc_singularize(const char *word, char *out, size_t cap) {
  if (word == NULL) return finish(out, cap, (size_t)-1);
  return finish(out, cap,
                inflect(word, singular_rules,
                        sizeof singular_rules / sizeof singular_rules[0], out,
                        out ? cap : 0));
}

/* "user_id" -> "userId" (lower_first) / "UserId": every part after an
 * underscore is lower-cased and capitalized (inflection's camelize). */
static size_t camelize(const char *word, int lower_first, char *out,
                       size_t cap) {
  size_t len = 0;
  int part = 0, start = 1;
  const char *p;
  for (p = word; *p; p++) {
    char c = *p;
    if (c == '_') {
      part++;
      start = 1;
      continue;
    }
    if (start) {
      c = (char)((lower_first && part == 0) ? to_lower((unsigned char)c)
                                            : to_upper((unsigned char)c));
      start = 0;
    } else if (part > 0) {
      c = (char)to_lower((unsigned char)c);
    }
    put(out, cap, &len, &c, 1);
  }
  return len;
}

int assoc_camelize(const char *word, int lower_first, char *out, size_t cap) {
  if (word == NULL) return finish(out, cap, (size_t)-1);
  return finish(out, cap, camelize(word, lower_first, out, out ? cap : 0));
}

/* "firstName" -> "first_name", "UserProject" -> "user_project", "userID"
 * -> "user_id", "HTMLParser" -> "html_parser". */
static size_t underscore(const char *word, char *out, size_t cap) {
  size_t len = 0, i, n = strlen(word);
  for (i = 0; i < n; i++) {
    int c = (unsigned char)word[i];
    if (is_upper(c) && i > 0) {
      int p = (unsigned char)word[i - 1];
      int nx = i + 1 < n ? (unsigned char)word[i + 1] : 0;
      if (is_lower(p) || is_digit(p) || (is_upper(p) && is_lower(nx)))
        put(out, cap, &len, "_", 1);
    }
    {
      char l = (char)to_lower(c);
      put(out, cap, &len, &l, 1);
    }
  }
  return len;
}

int assoc_underscore(const char *word, char *out, size_t cap) {
  if (word == NULL) return finish(out, cap, (size_t)-1);
  return finish(out, cap, underscore(word, out, out ? cap : 0));
}

/* ---- allocating forms ------------------------------------------------------- */

char *assoc__pluralize_dup(const char *word) {
  size_t n = inflect(word, plural_rules,
                     sizeof plural_rules / sizeof plural_rules[0], NULL, 0);
  char *p = malloc(n + 1);
  if (p == NULL) return NULL;
  inflect(word, plural_rules, sizeof plural_rules / sizeof plural_rules[0], p,
          n + 1);
  p[n] = '\0';
  return p;
}

char *assoc__underscore_dup(const char *word) {
  size_t n = underscore(word, NULL, 0);
  char *p = malloc(n + 1);
  if (p == NULL) return NULL;
  underscore(word, p, n + 1);
  p[n] = '\0';
  return p;
}
