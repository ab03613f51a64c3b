/*
 * test_naming.c -- inflection (pluralize/singularize) and case conversion
 * (camelize/underscore) of core/naming.c, plus type and operator names.
 */
#include "assoc.h"
#include "tap.h"

static const char *const pairs[][2] = {
  /* singular, plural */
  {"User", "Users"}, {"Post", "Posts"}, {"Person", "People"},
  {"Category", "Categories"}, {"Status", "Statuses"}, {"Box", "Boxes"},
  {"Mouse", "Mice"}, {"Leaf", "Leaves"}, {"Quiz", "Quizzes"},
  {"Matrix", "Matrices"}, {"Index", "Indices"},
  {"UserProject", "UserProjects"}, {"Man", "Men"}, {"Woman", "Women"},
  {"Child", "Children"}, {"Sex", "Sexes"}, {"Move", "Moves"},
  {"Cow", "Kine"}, {"Zombie", "Zombies"}, {"Ox", "Oxen"},
  {"Bus", "Buses"}, {"Alias", "Aliases"}, {"Octopus", "Octopuses"},
  {"Virus", "Viruses"}, {"Tomato", "Tomatoes"}, {"Hero", "Heros"},
  {"Medium", "Media"}, {"Datum", "Data"}, {"Analysis", "Analyses"},
  {"Basis", "Bases"}, {"Thesis", "Theses"}, {"Crisis", "Crises"},
  {"Wife", "Wives"}, {"Knife", "Knives"}, {"Half", "Halves"},
  {"Wolf", "Wolves"}, {"Loaf", "Loaves"}, {"Thief", "Thieves"},
  {"Archive", "Archives"}, {"Hive", "Hives"}, {"Query", "Queries"},
  {"Day", "Days"}, {"Key", "Keys"}, {"Soliloquy", "Soliloquies"},
  {"Church", "Churches"}, {"Class", "Classes"}, {"Dish", "Dishes"},
  {"Vertex", "Vertices"}, {"Foot", "Feet"}, {"Tooth", "Teeth"},
  {"Goose", "Geese"}, {"Criterion", "Criteria"}, {"Genus", "Genera"},
  {"Movie", "Movies"}, {"Address", "Addresses"}, {"Shoe", "Shoes"},
  {"Database", "Databases"}, {"Drive", "Drives"}, {"Curve", "Curves"},
  {"Campus", "Campuses"}, {"Axis", "Axes"}, {"Tax", "Taxes"}, {"Comment", "Comments"},
  {"BlogPost", "BlogPosts"}, {"user_profile", "user_profiles"},
  {"BigMouse", "BigMice"}, {"TeamPerson", "TeamPeople"},
  {"person", "people"}, {"category", "categories"},
};

static const char *const uncountables[] = {
  "Equipment", "Information", "Rice", "Money", "Species", "Series", "Fish",
  "Sheep", "Moose", "Deer", "News", "UserNews", "sheep",
};

int main(void) {
  char buf[64];
  size_t i;

  for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    int n = assoc_pluralize(pairs[i][0], buf, sizeof buf);
    is_str(buf, pairs[i][1], "pluralize %s", pairs[i][0]);
    if (n != (int)strlen(pairs[i][1])) ok(0, "length of plural %s", pairs[i][0]);
    assoc_singularize(pairs[i][1], buf, sizeof buf);
    is_str(buf, pairs[i][0], "singularize %s", pairs[i][1]);
  }
  /* already inflected stays */
  for (i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    assoc_pluralize(pairs[i][1], buf, sizeof buf);
    if (strcmp(buf, pairs[i][1]) != 0)
      ok(0, "pluralize of plural %s stays (got %s)", pairs[i][1], buf);
    assoc_singularize(pairs[i][0], buf, sizeof buf);
    if (strcmp(buf, pairs[i][0]) != 0)
      ok(0, "singularize of singular %s stays (got %s)", pairs[i][0], buf);
  }
  ok(1, "plural stays plural and singular stays singular for the whole table");
  assoc_pluralize("Users", buf, sizeof buf);
  is_str(buf, "Users", "pluralize Users stays Users");
  assoc_singularize("User", buf, sizeof buf);
  is_str(buf, "User", "singularize User stays User");
  assoc_pluralize("Human", buf, sizeof buf);
  is_str(buf, "Humans", "Human is not a man");
  for (i = 0; i < sizeof uncountables / sizeof uncountables[0]; i++) {
    assoc_pluralize(uncountables[i], buf, sizeof buf);
    is_str(buf, uncountables[i], "uncountable %s: plural", uncountables[i]);
    assoc_singularize(uncountables[i], buf, sizeof buf);
    is_str(buf, uncountables[i], "uncountable %s: singular", uncountables[i]);
  }

  /* buffer limits */
  is_int(assoc_pluralize("Category", buf, 10), -1, "pluralize: too small");
  is_int(assoc_pluralize("Category", buf, 11), 10, "pluralize: exact fit");
  is_str(buf, "Categories", "pluralize: exact fit text");
  is_int(assoc_pluralize(NULL, buf, sizeof buf), -1, "pluralize NULL");
  is_int(assoc_pluralize("", buf, sizeof buf), 1, "pluralize empty");

  /* camelize */
  assoc_camelize("user_id", 1, buf, sizeof buf);
  is_str(buf, "userId", "camelize user_id lower");
  assoc_camelize("user_id", 0, buf, sizeof buf);
  is_str(buf, "UserId", "camelize user_id upper");
  assoc_camelize("User", 1, buf, sizeof buf);
  is_str(buf, "user", "camelize User lower");
  assoc_camelize("user", 0, buf, sizeof buf);
  is_str(buf, "User", "camelize user upper");
  assoc_camelize("user_ID", 1, buf, sizeof buf);
  is_str(buf, "userId", "camelize lowers later parts");
  assoc_camelize("message_properties", 0, buf, sizeof buf);
  is_str(buf, "MessageProperties", "camelize message_properties");
  assoc_camelize("UserProject_id", 1, buf, sizeof buf);
  is_str(buf, "userProjectId", "camelize keeps the first part's humps");
  is_int(assoc_camelize("user_id", 1, buf, 6), -1, "camelize: too small");
  is_int(assoc_camelize("user_id", 1, buf, 7), 6, "camelize: exact fit");

  /* underscore */
  assoc_underscore("firstName", buf, sizeof buf);
  is_str(buf, "first_name", "underscore firstName");
  assoc_underscore("UserProject", buf, sizeof buf);
  is_str(buf, "user_project", "underscore UserProject");
  assoc_underscore("createdAt", buf, sizeof buf);
  is_str(buf, "created_at", "underscore createdAt");
  assoc_underscore("userID", buf, sizeof buf);
  is_str(buf, "user_id", "underscore userID");
  assoc_underscore("HTMLParser", buf, sizeof buf);
  is_str(buf, "html_parser", "underscore HTMLParser");
  assoc_underscore("id", buf, sizeof buf);
  is_str(buf, "id", "underscore id");
  assoc_underscore("already_snake", buf, sizeof buf);
  is_str(buf, "already_snake", "underscore keeps snake_case");
  assoc_underscore("address2Line", buf, sizeof buf);
  is_str(buf, "address2_line", "underscore after a digit");
  is_int(assoc_underscore("firstName", buf, 10), -1, "underscore: too small");
  is_int(assoc_underscore("firstName", buf, 11), 10, "underscore: exact fit");

  /* type and operator names */
  is_str(assoc_type_name(ASSOC_T_STRING), "STRING", "type name STRING");
  is_str(assoc_type_name(ASSOC_T_UUID), "UUID", "type name UUID");
  is_str(assoc_type_name(ASSOC_T__COUNT), NULL, "type name out of range");
  is_int(assoc_type_from_name("DATEONLY"), ASSOC_T_DATEONLY, "type from name");
  is_int(assoc_type_from_name("VARCHAR"), -1, "unknown type name");
  {
    static const char *const ops[] = {
      "eq", "ne", "gt", "gte", "lt", "lte", "in", "notIn", "like", "notLike",
      "iLike", "between", "notBetween", "is", "not", "startsWith", "endsWith",
      "substring", "and", "or"};
    int k, bad = 0;
    for (k = ASSOC_OP_EQ; k < ASSOC_OP__COUNT; k++) {
      const char *n = assoc_op_name((assoc_op)k);
      if (n == NULL || strcmp(n, ops[k - 1]) != 0) bad++;
    }
    is_int(bad, 0, "every operator name");
    is_str(assoc_op_name((assoc_op)0), NULL, "op 0 has no name");
    is_str(assoc_op_name(ASSOC_OP__COUNT), NULL, "op out of range");
  }
  {
    char u[37], v[37], t[25];
    assoc_uuid4(u);
    assoc_uuid4(v);
    is_int(strlen(u), 36, "uuid4 length");
    ok(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-',
       "uuid4 dashes: %s", u);
    ok(u[14] == '4', "uuid4 version nibble");
    ok(strchr("89ab", u[19]) != NULL, "uuid4 variant nibble");
    ok(strcmp(u, v) != 0, "two uuids differ");
    assoc_now_iso(t);
    is_int(strlen(t), 24, "now_iso length");
    ok(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z',
       "now_iso shape: %s", t);
  }
  return done_testing();
}
