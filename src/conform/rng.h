/* Seeded random numbers for conformance and benchmarks: xoshiro256** seeded
 * through splitmix64, so a printed seed reproduces a run on any machine. */
#ifndef TAPPA_RNG_H
#define TAPPA_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [lo, hi). */
double rng_uniform(rng *r, double lo, double hi);
/* Standard normal (Box-Muller). */
double rng_normal(rng *r);
/* A seed from the clock and pid, for "fresh data every run". */
uint64_t rng_fresh_seed(void);

#endif
