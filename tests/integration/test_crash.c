#include "harness.h"
#include "suites.h"
Suite *suite_crash(void) { return suite_create("crash"); }
