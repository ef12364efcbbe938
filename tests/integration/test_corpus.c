#include "harness.h"
#include "suites.h"
Suite *suite_corpus(void) { return suite_create("corpus"); }
