/* test_notify.c - placeholder, filled below. */
#include "harness.h"
#include "suites.h"

Suite *suite_notify(void)
{
	Suite *s = suite_create("notify");
	return s;
}
