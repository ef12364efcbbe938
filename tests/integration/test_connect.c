#include "harness.h"
#include "suites.h"
Suite *suite_connect(void) { return suite_create("connect"); }
