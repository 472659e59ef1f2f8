/* Minimal assertion macros for tappa's test executables: each failed check
 * prints file:line and both values, counts a failure, and the test carries on
 * so one run shows every broken case. main() returns check_exit(). */
#ifndef TAPPA_TESTS_CHECK_H
#define TAPPA_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        check_count++;                                                              \
        if (!(cond)) {                                                              \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                              \
    do {                                                                                \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                 \
        check_count++;                                                                  \
        if (check_a_ != check_b_) {                                                     \
            check_failures++;                                                           \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, \
                    #a, #b, check_a_, check_b_);                                        \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double check_a_ = (double)(a), check_b_ = (double)(b);                              \
        check_count++;                                                                      \
        if (!(check_a_ - check_b_ <= (tol) && check_b_ - check_a_ <= (tol))) {              \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: |%s - %s| <= %g failed: %.9g vs %.9g\n", __FILE__,      \
                    __LINE__, #a, #b, (double)(tol), check_a_, check_b_);                   \
        }                                                                                   \
    } while (0)

/* Check that message contains needle (for one-line error messages). */
#define CHECK_CONTAINS(message, needle)                                                     \
    do {                                                                                    \
        check_count++;                                                                      \
        if (!strstr((message), (needle))) {                                                 \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,  \
                    (message), (needle));                                                   \
        }                                                                                   \
    } while (0)

static inline int check_exit(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
