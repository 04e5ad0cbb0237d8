// Keeping freed memory in the process (see allocator.hpp).
#include "muelab/models/cpu/allocator.hpp"

#include <mutex>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace muelab::models::cpu {

void retain_freed_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef __GLIBC__
    // Blocks up to 32 MiB (glibc's largest mmap threshold) come from the heap, not from mmap, and the
    // heap is never trimmed: a freed activation buffer is reused by the next step without page faults.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
  });
}

}  // namespace muelab::models::cpu
