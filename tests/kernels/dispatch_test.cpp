// ISA selection: QG_FORCE_ISA parsing (known names, unknown names, ISAs the CPU
// lacks), QG_THREADS, and that a Context runs the table of the ISA it reports.
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/error.h"
#include "kernels/kernels.h"

namespace qg::kernels {
namespace {

// Sets an environment variable for the scope of one test (ctest runs each test in
// its own process, so this does not leak into other tests).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST(Dispatch, ParsesKnownNames) {
  EXPECT_EQ(parse_isa("scalar"), Isa::kScalar);
  if (isa_supported(Isa::kAvx2)) {
    EXPECT_EQ(parse_isa("avx2"), Isa::kAvx2);
    EXPECT_EQ(best_isa(), Isa::kAvx2);
  } else {
    EXPECT_THROW(parse_isa("avx2"), Error);
  }
  EXPECT_EQ(isa_name(Isa::kScalar), "scalar");
  EXPECT_EQ(isa_name(Isa::kAvx2), "avx2");
}

TEST(Dispatch, UnknownNameIsAnErrorNamingTheVariable) {
  try {
    parse_isa("avx9000");
    FAIL() << "expected qg::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("QG_FORCE_ISA=avx9000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_isa(""), Error);
  EXPECT_THROW(parse_isa("AVX2"), Error);
}

TEST(Dispatch, EnvironmentForcesScalar) {
  ScopedEnv env("QG_FORCE_ISA", "scalar");
  EXPECT_EQ(isa_from_env_or(Isa::kAvx2), Isa::kScalar);
  Context ctx(1);
  EXPECT_EQ(ctx.isa(), Isa::kScalar);
}

TEST(Dispatch, UnsetEnvironmentUsesFallback) {
  unsetenv("QG_FORCE_ISA");
  EXPECT_EQ(isa_from_env_or(Isa::kScalar), Isa::kScalar);
  Context ctx(1);
  EXPECT_EQ(ctx.isa(), best_isa());
}

TEST(Dispatch, BadEnvironmentThrowsFromContext) {
  ScopedEnv env("QG_FORCE_ISA", "sse9");
  EXPECT_THROW(Context ctx(1), Error);
}

TEST(Dispatch, ThreadsFromEnvironment) {
  {
    ScopedEnv env("QG_THREADS", "3");
    Context ctx(0);
    EXPECT_EQ(ctx.n_threads(), 3);
    Context explicit_count(2);
    EXPECT_EQ(explicit_count.n_threads(), 2);
  }
  {
    ScopedEnv env("QG_THREADS", "two");
    EXPECT_THROW(Context ctx(0), Error);
  }
  {
    ScopedEnv env("QG_THREADS", "0");
    EXPECT_THROW(Context ctx(0), Error);
  }
  unsetenv("QG_THREADS");
  Context cores(0);
  EXPECT_GE(cores.n_threads(), 1);
}

TEST(Dispatch, ContextCarriesRequestedIsa) {
  Context scalar(2, Isa::kScalar);
  EXPECT_EQ(scalar.isa(), Isa::kScalar);
  EXPECT_EQ(scalar.n_threads(), 2);
  if (isa_supported(Isa::kAvx2)) {
    Context fast(1, Isa::kAvx2);
    EXPECT_EQ(fast.isa(), Isa::kAvx2);
  }
}

}  // namespace
}  // namespace qg::kernels
