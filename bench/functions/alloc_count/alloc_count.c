/* LD_PRELOAD shim for bench/allocations.sh: counts calls to malloc, calloc, realloc and the
 * aligned allocators (operator new goes through malloc) in the process it is loaded into, and
 * writes the count to stderr as "allocations: N" on SIGUSR2. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static atomic_ulong allocations;

void* malloc(size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_malloc(n); }
void* calloc(size_t n, size_t size) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_calloc(n, size); }
void* realloc(void* p, size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
  void* p = memalign(a, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}

/* Async-signal-safe: digits by hand, one write(). */
static void report(int sig) {
  (void)sig;
  char buffer[48] = "allocations: ";
  char digits[24];
  unsigned long n = atomic_load_explicit(&allocations, memory_order_relaxed);
  int len = 0;
  do { digits[len++] = (char)('0' + n % 10); n /= 10; } while (n > 0);
  int at = 13;
  while (len > 0) buffer[at++] = digits[--len];
  buffer[at++] = '\n';
  (void)!write(2, buffer, (size_t)at);
}

__attribute__((constructor)) static void install(void) {
  struct sigaction action = {0};
  action.sa_handler = report;
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &action, NULL);
}
