// Error policy (docs/STYLE.md): library code throws qg::Error with a message that
// names the file, field, tensor or byte at fault; the CLI and server catch it at
// their boundary. QG_CHECK is for broken invariants (programmer errors) and also
// throws, so a bad request can never abort a server process.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace qg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// cat("tensor ", name, ": shape ", n) — builds a message from streamable parts.
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

// Throws qg::Error built from the parts.
template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(cat(std::forward<Args>(args)...));
}

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace qg

// Invariant check that stays on in release builds (it is cheap and a guard must not
// silently compute garbage). Usage: QG_CHECK(n > 0, "n=", n);
#define QG_CHECK(cond, ...)                                                     \
  do {                                                                          \
    if (!(cond)) ::qg::check_failed(#cond, __FILE__, __LINE__, ::qg::cat(__VA_ARGS__)); \
  } while (0)
