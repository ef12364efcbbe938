#include "harness.h"
#include "suites.h"
Suite *suite_failure(void) { return suite_create("failure"); }
