/* t.h - the module-test helpers: CHECK() records a failure and goes on;
 * t_done() prints "N passed, N failed" for the file and sets the exit code. */
#ifndef TANDEM_T_H
#define TANDEM_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (cond) {                                                \
			t_pass++;                                          \
		} else {                                                   \
			t_fail++;                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                          \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *t_a_ = (a), *t_b_ = (b);                       \
		if (t_a_ && t_b_ && strcmp(t_a_, t_b_) == 0) {             \
			t_pass++;                                          \
		} else {                                                   \
			t_fail++;                                          \
			fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n",    \
				__FILE__, __LINE__, t_a_ ? t_a_ : "(null)",   \
				t_b_ ? t_b_ : "(null)");                   \
		}                                                          \
	} while (0)

static inline int t_done(void)
{
	printf("%d passed, %d failed\n", t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
