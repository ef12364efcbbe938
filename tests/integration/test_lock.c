#include "harness.h"
#include "suites.h"
Suite *suite_lock(void) { return suite_create("lock"); }
