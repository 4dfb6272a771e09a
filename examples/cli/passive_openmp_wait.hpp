// pollard tools — OpenMP threads waiting for work sleep instead of spinning, unless the user chose
// a policy through OMP_WAIT_POLICY or GOMP_SPINCOUNT.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <string_view>
#include <thread>

namespace pollard::cli {

/// Runs the tool again (same process, same arguments) with OMP_WAIT_POLICY=passive when neither
/// OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set; call it first in main(). Returns, changing
/// nothing, when the policy is the user's, there is one hardware thread, or the executable cannot
/// be run again (no /proc, run through the dynamic loader or under Valgrind).
///
/// Without a policy, libgomp spins 300000 times at every barrier before it sleeps. When another
/// process holds a core, the spinning thread keeps the thread it waits for off the other one: on
/// a 2-core machine with one core busy, `--threads 2` ran 10-40x slower than with the passive
/// policy. libgomp reads its environment once, when it is loaded, and glibc only adopts the
/// environment after the executable's .preinit_array has run, so no setenv() in this process
/// reaches it: the program must start again.
inline void restart_with_passive_openmp_wait(char** argv) {
#ifdef _OPENMP
  if (::getenv("OMP_WAIT_POLICY") != nullptr || ::getenv("GOMP_SPINCOUNT") != nullptr ||
      ::getenv("VALGRIND_LAUNCHER") != nullptr || std::thread::hardware_concurrency() < 2)
    return;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return;
  const std::string_view path(self, static_cast<std::size_t>(n));
  if (path.substr(path.rfind('/') + 1).starts_with("ld-")) return;  // ld.so ran the tool
  if (::setenv("OMP_WAIT_POLICY", "passive", 0) != 0) return;
  ::execv("/proc/self/exe", argv);
  ::unsetenv("OMP_WAIT_POLICY");  // not restarted: as before
#else
  (void)argv;
#endif
}

}  // namespace pollard::cli
