#include "harness.h"
#include "suites.h"
Suite *suite_prisma(void) { return suite_create("prisma"); }
