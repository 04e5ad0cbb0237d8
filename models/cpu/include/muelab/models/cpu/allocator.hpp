// The trainer allocates per-step temporaries of up to several MiB (activation gradients). With glibc's
// defaults a block that large is an mmap of fresh pages, returned to the system when freed, so every
// step paid page faults and zero-fill on it: half of a d = 128 dense step when a process trains one
// model (bench/models/results.md). retain_freed_memory() makes glibc serve such blocks from its heap
// and keep freed memory (process-wide, once; a no-op elsewhere). The Model constructor calls it.
#pragma once

namespace muelab::models::cpu {

void retain_freed_memory();

}  // namespace muelab::models::cpu
