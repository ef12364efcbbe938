#include "harness.h"
#include "suites.h"
Suite *suite_status(void) { return suite_create("status"); }
