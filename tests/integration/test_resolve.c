#include "harness.h"
#include "suites.h"
Suite *suite_resolve(void) { return suite_create("resolve"); }
