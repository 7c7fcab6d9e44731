// ThreadPool construction that fails half-way (a worker thread cannot start) throws
// instead of calling std::terminate: the workers already started are stopped and
// joined. The failure is provoked in a child process (gtest death-test fork) by an
// address-space limit that leaves room for a few thread stacks only.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>

#include <gtest/gtest.h>

#include "kernels/thread_pool.h"

namespace qg::kernels {
namespace {

// Current virtual memory size in bytes (VmSize of /proc/self/status), 0 if unknown.
size_t vm_size() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 10) * 1024;
  }
  return 0;
}

// In the death-test child: exits 0 if the constructor threw, 2 if the limit did not bite.
[[noreturn]] void start_pool_under_limit() {
  // Room for a few 8 MiB thread stacks, far fewer than 1023 workers.
  const rlim_t limit = vm_size() + (64u << 20);
  const rlimit rl{limit, limit};
  if (setrlimit(RLIMIT_AS, &rl) != 0) std::_Exit(4);
  try {
    ThreadPool pool(1024);
    std::_Exit(2);
  } catch (const std::system_error&) {
    std::_Exit(0);
  } catch (...) {
    std::_Exit(3);
  }
}

TEST(ThreadPoolCtor, FailedThreadStartThrows) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "an address-space limit cannot coexist with ASan's shadow memory";
#else
  if (vm_size() == 0) GTEST_SKIP() << "no /proc/self/status";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(start_pool_under_limit(), ::testing::ExitedWithCode(0), "");
#endif
}

}  // namespace
}  // namespace qg::kernels
